"""The pipeline's configuration as tests see it: read from template.yaml, never copied."""

from __future__ import annotations

from functools import cache
from typing import Any

from local.resolve import Scope
from local.template import LOCAL_REGION, function_environment, load_template, parameter_values, translate


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
    props = translated()["Resources"][logical_id]["Properties"]
    dynamodb.create_table(
        TableName=name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode=props["BillingMode"],
    )


LARGE_MESSAGE_BUCKET = "weir-test-large-messages"


def process_environment(
    events_table: str, idempotency_table: str, quarantine_url: str, **overrides: str
) -> dict[str, str]:
    refs = {
        "EventsTable": events_table,
        "IdempotencyTable": idempotency_table,
        "QuarantineQueue": quarantine_url,
        "LargeMessageBucket": LARGE_MESSAGE_BUCKET,
        "BreakerTable": f"{events_table}-breaker",
    }
    return environment("ProcessFunction", refs, **overrides)


def create_consumer_resources(
    dynamodb: Any, sqs: Any, events_table: str, idempotency_table: str, quarantine_queue: str, **overrides: str
) -> dict[str, str]:
    """The process function's tables (key schemas from template.yaml), quarantine queue and bucket for
    large messages; returns the environment template.yaml would give the function for them."""
    import boto3

    # the same place as the SQS client: a local endpoint, or AWS's (in-process moto)
    local = "amazonaws.com" not in sqs.meta.endpoint_url
    s3 = boto3.client("s3", endpoint_url=sqs.meta.endpoint_url if local else None, region_name=LOCAL_REGION)
    s3.create_bucket(Bucket=LARGE_MESSAGE_BUCKET)
    create_table(dynamodb, "EventsTable", events_table)
    create_table(dynamodb, "IdempotencyTable", idempotency_table)
    create_table(dynamodb, "BreakerTable", f"{events_table}-breaker")
    quarantine_url = str(sqs.create_queue(QueueName=quarantine_queue)["QueueUrl"])
    return process_environment(events_table, idempotency_table, quarantine_url, **overrides)
