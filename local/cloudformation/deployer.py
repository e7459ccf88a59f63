"""Deploy template.yaml into the local endpoint.

aws-sam-translator expands the template with the parameter overrides; the deployer then creates,
through the endpoint, every resource the functions use (streams, queues, tables, buckets) with the
names and properties the template gives them, and records each function's resolved environment
and each event source mapping for the local runtime. There is no second copy of the configuration.

Resource types that only matter in AWS (IAM roles, log groups, alarms, API stages, layers) are
recorded as not emulated; docs/local.md lists them.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from local.fis.experiments import experiment_faults
from tools.deploy_checks import parameter_problems, rule_failures
from tools.fis import ExperimentError
from tools.resolve import ResolveError, Scope, resolve
from tools.template import LOCAL_ACCOUNT_ID, LOCAL_REGION, ROOT, load_template, parameter_values, translate

LOCAL_API_URL = "http://127.0.0.1:3000"


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    arn: str
    handler_path: Path
    handler: str
    timeout: int
    memory: int
    reserved_concurrency: int | None
    environment: dict[str, str]
    role_arn: str = ""
    log_group: str | None = None  # LoggingConfig.LogGroup: where local.cloudwatch.feed puts its output


@dataclass(frozen=True)
class Created:
    """What a resource answers to Ref, and its Fn::GetAtt attributes."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class LocalStack:
    name: str
    parameters: dict[str, Any]
    outputs: dict[str, str] = field(default_factory=dict)
    functions: dict[str, LocalFunction] = field(default_factory=dict)
    event_source_mappings: list[dict[str, Any]] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)  # AWS::Events::Rule properties
    # AWS::KinesisFirehose::DeliveryStream properties: local.firehose.delivery runs them.
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    physical_ids: dict[str, str] = field(default_factory=dict)
    not_emulated: dict[str, str] = field(default_factory=dict)
    # FIS experiment templates (ChaosExperiments=true) as the local faults that reproduce them.
    experiments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Content directories of the template's layers: what Lambda mounts at /opt/python.
    layer_paths: list[Path] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "parameters": self.parameters,
            "outputs": self.outputs,
            "physical_ids": self.physical_ids,
            "functions": {k: {**vars(f), "handler_path": str(f.handler_path)} for k, f in self.functions.items()},
            "event_source_mappings": self.event_source_mappings,
            "schedules": self.schedules,
            "not_emulated": self.not_emulated,
            "experiments": self.experiments,
            "layer_paths": [str(p) for p in self.layer_paths],
        }


class DeployError(RuntimeError):
    pass


# The local endpoint checks no signature. Its clients always sign with these placeholders, so a
# developer's real AWS credentials are never needed, read, or sent anywhere by the local runtime.
LOCAL_ACCESS_KEY_ID = "local"
LOCAL_SECRET_ACCESS_KEY = "local"  # noqa: S105 - a placeholder; the local endpoint checks no signature


def local_credentials() -> dict[str, str]:
    """The environment that points boto3's default credential chain at the placeholders."""
    return {
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
    }


def local_client(service: str, endpoint_url: str, read_timeout: float = 30) -> Any:
    """A boto3 client for the local endpoint, with explicit timeouts and placeholder credentials."""
    config = Config(connect_timeout=2, read_timeout=read_timeout, retries={"mode": "standard", "total_max_attempts": 3})
    session = boto3.session.Session(
        aws_access_key_id=LOCAL_ACCESS_KEY_ID, aws_secret_access_key=LOCAL_SECRET_ACCESS_KEY
    )
    return session.client(  # type: ignore[call-overload]
        service, endpoint_url=endpoint_url, region_name=LOCAL_REGION, config=config
    )


class Deployer:
    def __init__(self, endpoint_url: str, stack_name: str = "weir-local", template_path: Path | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.stack_name = stack_name
        self.template_path = template_path or ROOT / "template.yaml"

    def deploy(self, overrides: Mapping[str, str] | None = None) -> LocalStack:
        source = load_template(self.template_path)
        self._source = source
        translated = translate(source, overrides)
        parameters = parameter_values(source, overrides)
        # What CloudFormation refuses, the local deploy refuses too, with the same reasons.
        refused = [*parameter_problems(source, parameters), *rule_failures(source, parameters)]
        if refused:
            raise DeployError("; ".join(refused))
        parameters.update(
            {
                "AWS::Region": LOCAL_REGION,
                "AWS::AccountId": LOCAL_ACCOUNT_ID,
                "AWS::Partition": "aws",
                "AWS::StackName": self.stack_name,
                "AWS::StackId": f"arn:aws:cloudformation:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:stack/{self.stack_name}/x",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::NotificationARNs": [],
            }
        )
        scope = Scope(parameters, conditions=translated.get("Conditions", {}))
        stack = LocalStack(self.stack_name, {k: v for k, v in parameters.items() if not k.startswith("AWS::")})
        pending = {
            name: resource
            for name, resource in translated["Resources"].items()
            if "Condition" not in resource or scope.condition(resource["Condition"])
        }
        # Create in dependency order: a resource whose references are not known yet waits a pass.
        while pending:
            progressed = False
            errors: dict[str, str] = {}
            for name in list(pending):
                try:
                    self._create(name, pending[name], scope, stack)
                except ResolveError as exc:
                    errors[name] = str(exc)
                    continue
                del pending[name]
                progressed = True
            if not progressed:
                raise DeployError(f"cannot resolve references: {errors}")
        for resource in source["Resources"].values():
            if resource.get("Type") == "AWS::Serverless::LayerVersion":
                stack.layer_paths.append((self.template_path.parent / resource["Properties"]["ContentUri"]).resolve())
        for name, output in translated.get("Outputs", {}).items():
            if "Condition" not in output or scope.condition(output["Condition"]):
                stack.outputs[name] = str(resolve(output["Value"], scope))
        return stack

    # --- one resource ------------------------------------------------------------------

    def _create(self, name: str, resource: dict[str, Any], scope: Scope, stack: LocalStack) -> None:
        """Create one resource (``_aws_<type>`` below) and register its Ref and attributes."""
        kind = resource["Type"]
        creator = getattr(self, "_" + kind.replace("::", "_").lower(), None)
        if creator is None:
            # Ref and Arn placeholders so that references to it still resolve.
            created = Created(
                f"{self.stack_name}-{name}", {"Arn": f"arn:aws:local:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{name}"}
            )
            stack.not_emulated[name] = kind
        else:
            created = creator(name, resolve(resource.get("Properties", {}), scope), stack)
            stack.physical_ids[name] = created.ref
        scope.refs[name] = created.ref
        for attribute, value in created.attributes.items():
            scope.attributes[(name, attribute)] = value

    def _physical_name(self, name: str) -> str:
        return f"{self.stack_name}-{name}-{secrets.token_hex(4)}".lower()

    def _aws_kinesis_stream(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        kinesis = local_client("kinesis", self.endpoint_url)
        stream = props.get("Name") or self._physical_name(name)
        mode = props.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
        if mode == "PROVISIONED":  # CloudFormation's default ShardCount is 1
            kinesis.create_stream(StreamName=stream, ShardCount=int(props.get("ShardCount") or 1))
        else:
            kinesis.create_stream(StreamName=stream, StreamModeDetails={"StreamMode": mode})
        kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        retention = int(props.get("RetentionPeriodHours", 24))
        if retention > 24:
            kinesis.increase_stream_retention_period(StreamName=stream, RetentionPeriodHours=retention)
        arn = f"arn:aws:kinesis:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:stream/{stream}"
        return Created(stream, {"Arn": arn})

    def _aws_kinesis_streamconsumer(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        """An enhanced fan-out consumer, registered on the stream. The mapping on it reads with
        GetRecords, outside the shard's shared read limits, rather than by SubscribeToShard (docs/local.md)."""
        kinesis = local_client("kinesis", self.endpoint_url)
        consumer = kinesis.register_stream_consumer(StreamARN=props["StreamARN"], ConsumerName=props["ConsumerName"])
        arn = str(consumer["Consumer"]["ConsumerARN"])
        return Created(arn, {"ConsumerARN": arn, "ConsumerName": str(props["ConsumerName"])})

    def _aws_sqs_queue(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        sqs = local_client("sqs", self.endpoint_url)
        queue_name = props.get("QueueName") or self._physical_name(name)
        attributes = {
            key: (
                json.dumps(value)
                if isinstance(value, dict)
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
            for key, value in props.items()
            if key
            in {
                "MessageRetentionPeriod",
                "MaximumMessageSize",
                "VisibilityTimeout",
                "SqsManagedSseEnabled",
                "RedrivePolicy",
                "DelaySeconds",
                "ReceiveMessageWaitTimeSeconds",
                "KmsMasterKeyId",
            }
        }
        url = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
        arn = f"arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{queue_name}"
        return Created(url, {"Arn": arn, "QueueName": queue_name, "QueueUrl": url})

    def _aws_dynamodb_table(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        dynamodb = local_client("dynamodb", self.endpoint_url)
        table = props.get("TableName") or self._physical_name(name)
        request: dict[str, Any] = {
            "TableName": table,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if request["BillingMode"] == "PROVISIONED":
            request["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        sse = props.get("SSESpecification")
        if sse:
            # CloudFormation says SSEEnabled/SSEType/KMSMasterKeyId; the API says Enabled/SSEType/...
            request["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled"))} | {
                k: v for k, v in sse.items() if k in {"SSEType", "KMSMasterKeyId"}
            }
        stream = props.get("StreamSpecification")
        if stream:
            # CloudFormation says StreamViewType; the API says StreamEnabled and StreamViewType.
            request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        created = dynamodb.create_table(**request)["TableDescription"]
        # CloudFormation creates a table when it is ACTIVE; until then DynamoDB (and dynalite) answer
        # ResourceNotFoundException to its reads and writes.
        dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200})
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=ttl)
        attributes = {"Arn": f"arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:table/{table}"}
        if "LatestStreamArn" in created:
            attributes["StreamArn"] = created["LatestStreamArn"]
        return Created(table, attributes)

    def _aws_s3_bucket(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        s3 = local_client("s3", self.endpoint_url)
        bucket = props.get("BucketName") or self._physical_name(name)
        s3.create_bucket(Bucket=bucket)
        if "BucketEncryption" in props:
            # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
                }
                for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        return Created(bucket, {"Arn": f"arn:aws:s3:::{bucket}"})

    def _aws_iam_role(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        """Not enforced locally, but named as AWS names it: the event records' invokeIdentityArn."""
        stack.not_emulated[name] = "AWS::IAM::Role (permissions are not enforced locally)"
        role = props.get("RoleName") or f"{self.stack_name}-{name}-{secrets.token_hex(4)}"
        return Created(role, {"Arn": f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/{role}", "RoleId": secrets.token_hex(10)})

    def _aws_sns_topic(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        sns = local_client("sns", self.endpoint_url)
        topic = props.get("TopicName") or self._physical_name(name)
        arn = sns.create_topic(Name=topic)["TopicArn"]
        return Created(arn, {"TopicArn": arn})

    def _aws_cloudwatch_dashboard(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        dashboard = props.get("DashboardName") or self._physical_name(name)
        local_client("cloudwatch", self.endpoint_url).put_dashboard(
            DashboardName=dashboard, DashboardBody=props["DashboardBody"]
        )
        return Created(dashboard)

    def _aws_kinesisfirehose_deliverystream(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        """Recorded for the runtime, which runs the delivery (local.firehose.delivery)."""
        delivery = props.get("DeliveryStreamName") or self._physical_name(name)
        stack.deliveries.append({**props, "DeliveryStreamName": delivery})
        arn = f"arn:aws:firehose:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:deliverystream/{delivery}"
        return Created(delivery, {"Arn": arn})

    def _aws_logs_loggroup(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        """In moto's CloudWatch Logs: the functions' output is fed into it (local.cloudwatch.feed)."""
        group = props.get("LogGroupName") or f"/aws/{self._physical_name(name)}"
        local_client("logs", self.endpoint_url).create_log_group(logGroupName=group)
        return Created(group, {"Arn": f"arn:aws:logs:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:log-group:{group}:*"})

    def _aws_lambda_function(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        function_name = props.get("FunctionName") or f"{self.stack_name}-{name}"
        source = self._source
        code_uri = source["Resources"][name]["Properties"].get("CodeUri") or source.get("Globals", {}).get(
            "Function", {}
        ).get("CodeUri")
        module, _, attribute = str(props["Handler"]).rpartition(".")
        handler_path = (self.template_path.parent / str(code_uri) / f"{module.replace('.', '/')}.py").resolve()
        if not handler_path.exists():
            raise DeployError(f"{name}: handler file {handler_path} does not exist")
        arn = f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{function_name}"
        reserved = props.get("ReservedConcurrentExecutions")
        stack.functions[name] = LocalFunction(
            logical_id=name,
            name=function_name,
            arn=arn,
            handler_path=handler_path,
            handler=attribute,
            timeout=int(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
            reserved_concurrency=None if reserved is None else int(reserved),
            environment={k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()},
            role_arn=str(props.get("Role", "")),
            log_group=props.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{function_name}",
        )
        return Created(function_name, {"Arn": arn})

    def _aws_lambda_eventsourcemapping(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        # A mapping's Ref is its UUID (what UpdateEventSourceMapping takes): one per stack and resource.
        mapping_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.stack_name}|{name}"))
        stack.event_source_mappings.append({"LogicalId": name, "UUID": mapping_uuid, **props})
        return Created(mapping_uuid)

    def _aws_events_rule(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        """A schedule (SAM's Schedule event): the local runtime invokes its targets on it."""
        stack.schedules.append({"LogicalId": name, **props})
        arn = f"arn:aws:events:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:rule/{name}"
        return Created(f"{self.stack_name}-{name}", {"Arn": arn})

    def _aws_fis_experimenttemplate(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        """An experiment runs locally as the faults that reproduce its actions (``make chaos``)."""
        try:
            stack.experiments[name] = experiment_faults(props)
        except ExperimentError as exc:
            raise DeployError(f"{name}: {exc}") from None
        return Created(f"EXT-local-{name}", {"Id": f"EXT-local-{name}"})

    def _aws_apigatewayv2_api(self, name: str, props: dict[str, Any], stack: LocalStack) -> Created:
        stack.not_emulated[name] = "AWS::ApiGatewayV2::Api (served by local.apigateway.http_api on 127.0.0.1:3000)"
        return Created("local")


def publish_outputs(endpoint_url: str, stack_name: str, outputs: dict[str, str]) -> None:
    """Answer CloudFormation DescribeStacks for the local stack, so code that reads outputs has one
    path locally and in AWS. moto's CloudFormation holds a stack made of a placeholder resource and
    the outputs as literals (it does not apply the SAM transform, so it never deploys the template)."""
    template = {
        "Resources": {"LocalStack": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    cloudformation = local_client("cloudformation", endpoint_url)
    cloudformation.create_stack(StackName=stack_name, TemplateBody=json.dumps(template))


def local_outputs(stack: LocalStack) -> dict[str, str]:
    """The stack outputs as they are locally: the API is served on 127.0.0.1:3000."""
    outputs = dict(stack.outputs)
    if "IngestApiUrl" in outputs:
        outputs["IngestApiUrl"] = LOCAL_API_URL
    return outputs
