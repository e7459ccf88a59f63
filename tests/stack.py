"""The pipeline's configuration as tests see it: read from template.yaml, never copied."""

from __future__ import annotations

from functools import cache
from typing import Any

from tests.aws_helpers import create_table as create_active_table
from tools.resolve import Scope
from tools.template import LOCAL_REGION, function_environment, load_template, parameter_values, translate


@cache
def translated(overrides: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    return translate(load_template(), dict(overrides))


def scope(refs: dict[str, Any], **overrides: str) -> Scope:
    template = translated(tuple(sorted(overrides.items())))
    parameters = parameter_values(load_template(), overrides)
    parameters.update({"AWS::Region": LOCAL_REGION, "AWS::Partition": "aws", "AWS::StackName": "weir-test"})
    return Scope(parameters, refs=refs, conditions=template.get("Conditions", {}))


def environment(function: str, refs: dict[str, Any], **overrides: str) -> dict[str, str]:
    """``function``'s environment from template.yaml, with resources named by ``refs``."""
    template = translated(tuple(sorted(overrides.items())))
    return function_environment(template, function, scope(refs, **overrides))


def ingest_environment(stream_name: str, queue_url: str, **overrides: str) -> dict[str, str]:
    return environment("IngestFunction", {"Stream": stream_name, "OverflowQueue": queue_url}, **overrides)


def create_table(dynamodb: Any, logical_id: str, name: str) -> None:
    """Create a table with the key schema template.yaml gives ``logical_id`` (one source for both)."""
    from tools.resolve import resolve

    props = translated()["Resources"][logical_id]["Properties"]
    create_active_table(
        dynamodb,
        TableName=name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode=resolve(props["BillingMode"], scope({})),  # the template's default: on demand
    )


LARGE_MESSAGE_BUCKET = "weir-test-large-messages"


def _referenced(node: Any) -> set[str]:
    """The logical ids a template value names with Ref or GetAtt."""
    if isinstance(node, dict):
        if "Ref" in node:
            return {str(node["Ref"])}
        if "Fn::GetAtt" in node:
            return {str(node["Fn::GetAtt"][0])}
        return set().union(*(_referenced(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_referenced(v) for v in node)) if node else set()
    return set()


def create_function_resources(
    function: str, clients: dict[str, Any], names: dict[str, str], **overrides: str
) -> dict[str, str]:
    """Every queue, table and bucket ``function``'s environment names in template.yaml (its sink's
    too, whatever the domain's sink is), created with template.yaml's own key schemas and named by
    ``names`` (a logical id -> a name) or after their logical id; plus every table or queue ``names``
    lists, named or not. Returns the environment template.yaml would give the function."""
    resources = translated(tuple(sorted(overrides.items())))["Resources"]
    variables = resources[function]["Properties"].get("Environment", {}).get("Variables", {})
    refs: dict[str, Any] = {}
    for logical_id in sorted(_referenced(variables) | set(names)):
        resource = resources.get(logical_id)
        if resource is None:
            continue  # a parameter
        name = names.get(logical_id) or f"weir-test-{logical_id.lower()}"
        kind = resource["Type"]
        if kind == "AWS::DynamoDB::Table":
            create_table(clients["dynamodb"], logical_id, name)
            refs[logical_id] = name
        elif kind == "AWS::SQS::Queue":
            refs[logical_id] = str(clients["sqs"].create_queue(QueueName=name)["QueueUrl"])
        elif kind == "AWS::S3::Bucket":
            clients["s3"].create_bucket(Bucket=name)
            refs[logical_id] = name
    return environment(function, refs, **overrides)


def create_consumer_resources(
    dynamodb: Any, sqs: Any, events_table: str, idempotency_table: str, quarantine_queue: str, **overrides: str
) -> dict[str, str]:
    """The process function's tables (key schemas from template.yaml), queues and buckets, the domain's
    sink's included; returns the environment template.yaml would give the function for them."""
    import boto3

    # the same place as the SQS client: a local endpoint, or AWS's (in-process moto)
    local = "amazonaws.com" not in sqs.meta.endpoint_url
    s3 = boto3.client("s3", endpoint_url=sqs.meta.endpoint_url if local else None, region_name=LOCAL_REGION)
    names = {
        "EventsTable": events_table,
        "IdempotencyTable": idempotency_table,
        "QuarantineQueue": quarantine_queue,
        "LargeMessageBucket": LARGE_MESSAGE_BUCKET,
        "BreakerTable": f"{events_table}-breaker",
    }
    return create_function_resources(
        "ProcessFunction", {"dynamodb": dynamodb, "sqs": sqs, "s3": s3}, names, **overrides
    )
