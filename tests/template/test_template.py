"""The translated template (aws-sam-translator output): what CloudFormation will really create."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.stack import translated
from tools.template import load_template, parameter_values, parse_overrides
from weir.config import AggregatesConfig, BreakerConfig, ConsumerConfig, IngestConfig, RedriveConfig


def resources(of_type: str, template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    template = template or translated()
    return {name: r for name, r in template["Resources"].items() if r["Type"] == of_type}


def test_every_function_runs_python313_on_arm64_with_the_weir_layer() -> None:
    functions = resources("AWS::Lambda::Function")
    assert functions, "no functions translated"
    for name, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.13", name
        assert props["Architectures"] == ["arm64"], name
        assert any("WeirLayer" in str(layer) for layer in props["Layers"]), name
        assert props["TracingConfig"] == {"Mode": "Active"}, name


def test_every_function_logs_to_its_own_log_group_with_retention() -> None:
    groups = resources("AWS::Logs::LogGroup")
    for name, function in resources("AWS::Lambda::Function").items():
        logging = function["Properties"]["LoggingConfig"]
        assert logging["LogFormat"] == "JSON"
        group = logging["LogGroup"]["Ref"]
        assert groups[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name


def test_the_stream_is_kms_encrypted_with_shards_and_retention_as_parameters() -> None:
    [stream] = resources("AWS::Kinesis::Stream").values()
    props = stream["Properties"]
    assert props["StreamEncryption"]["EncryptionType"] == "KMS"
    assert props["RetentionPeriodHours"] == {"Ref": "RetentionHours"}
    assert props["ShardCount"] == {"Fn::If": ["IsProvisioned", {"Ref": "ShardCount"}, {"Ref": "AWS::NoValue"}]}
    assert props["StreamModeDetails"] == {"StreamMode": {"Ref": "StreamMode"}}


def test_the_api_requires_iam_auth_and_is_throttled() -> None:
    [api] = resources("AWS::ApiGatewayV2::Api").values()
    body = api["Properties"]["Body"]
    assert list(body["paths"]) == ["/events"]
    assert list(body["paths"]["/events"]) == ["post"]
    route = body["paths"]["/events"]["post"]
    assert route["security"] == [{"AWS_IAM": []}]
    assert body["components"]["securitySchemes"]["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    [stage] = resources("AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["RouteSettings"]["POST /events"]
    assert settings == {
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
    }
    assert "AccessLogSettings" in stage["Properties"]


def test_the_overflow_queue_is_encrypted_keeps_messages_14_days_and_takes_whole_records() -> None:
    queue = translated()["Resources"]["OverflowQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 1209600
    assert queue["MaximumMessageSize"] == 1048576


# The functions that make the domain's sink (the consumer stores through it; the breaker probes it).
SINK_MAKERS = {"ProcessFunction", "BreakerFunction"}


@pytest.mark.parametrize(
    ("function", "config"),
    [
        ("IngestFunction", IngestConfig),
        ("ProcessFunction", ConsumerConfig),
        ("RedriveFunction", RedriveConfig),
        ("BreakerFunction", BreakerConfig),
        ("AggregateFunction", AggregatesConfig),
    ],
)
def test_each_function_gets_every_variable_its_config_requires_and_no_other(function: str, config: Any) -> None:
    from weir import domain

    env = translated()["Resources"][function]["Properties"]["Environment"]["Variables"]
    fields = dict(config.model_fields)
    if function in SINK_MAKERS:  # the domain's sink reads its own settings there
        fields |= {f"sink.{name}": field for name, field in domain.SinkSettings.model_fields.items()}
    required = {f.alias for f in fields.values() if f.is_required()}
    assert required <= set(env)
    known = {f.alias for f in fields.values()}
    unknown = {k for k in env if not k.startswith("POWERTOOLS_")} - known
    assert not unknown, f"template sets variables the config never reads: {unknown}"


def test_ingest_lambda_timeout_leaves_room_after_the_deadline() -> None:
    values = parameter_values(load_template())
    assert int(values["IngestTimeoutSeconds"]) >= int(values["IngestDeadlineSeconds"]) + 1


def _statements(statements: list[Any]) -> list[dict[str, Any]]:
    """Statements, with both branches of a conditional (Fn::If) one and AWS::NoValue left out."""
    found = []
    for statement in statements:
        if "Fn::If" in statement:
            found.extend(_statements([s for s in statement["Fn::If"][1:] if s != {"Ref": "AWS::NoValue"}]))
        else:
            found.append(statement)
    return found


# The only actions a role may grant on every resource: X-Ray accepts no narrower resource for them.
UNSCOPABLE_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_roles_grant_no_wildcard_actions_and_no_account_wide_resources() -> None:
    roles = resources("AWS::IAM::Role")
    assert set(roles) == {
        "IngestRole",
        "ProcessRole",
        "RedriveRole",
        "ReplayRole",
        "ArchiveRole",
        "ArchiveDeliveryRole",
        "BreakerRole",
        "AggregateRole",
        "ChaosExperimentRole",
    }
    for name, role in roles.items():
        assert "ManagedPolicyArns" not in role["Properties"], name
        for policy in role["Properties"]["Policies"]:
            for statement in _statements(policy["PolicyDocument"]["Statement"]):
                actions = _actions(statement)
                assert all("*" not in a for a in actions), (name, actions)
                if statement["Resource"] == "*":
                    assert set(actions) <= UNSCOPABLE_ACTIONS or _limited_to_the_stream(statement), (name, statement)


def _limited_to_the_stream(statement: dict[str, Any]) -> bool:
    """FIS's kinesis:InjectApiError on "*", limited by its condition keys to this stack's stream (as the
    FIS user guide grants it)."""
    limits = statement.get("Condition", {}).get("ForAllValues:StringEquals", {})
    return _actions(statement) == ["kinesis:InjectApiError"] and limits.get("kinesis:FisTargetArns") == [
        {"Fn::GetAtt": ["Stream", "Arn"]}
    ]


def test_every_function_uses_its_own_role_and_no_generated_one() -> None:
    template = translated()
    for name in ("Ingest", "Process", "Redrive", "Replay", "Archive", "Breaker", "Aggregate"):
        function = template["Resources"][f"{name}Function"]["Properties"]
        assert function["Role"] == {"Fn::GetAtt": [f"{name}Role", "Arn"]}
        statements = _statements(
            template["Resources"][f"{name}Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        )
        logs = [s for s in statements if any(a.startswith("logs:") for a in _actions(s))]
        assert [s["Resource"] for s in logs] == [{"Fn::GetAtt": [f"{name}LogGroup", "Arn"]}], name
    assert not [r for r, v in template["Resources"].items() if v["Type"] == "AWS::IAM::Role" and "Function" in r]


def test_the_first_consumer_reads_only_its_stream() -> None:
    statements = _statements(
        translated()["Resources"]["ProcessRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    )
    kinesis = [s for s in statements if any(a.startswith("kinesis:") for a in _actions(s))]
    assert [s["Resource"] for s in kinesis] == [
        {"Fn::GetAtt": ["Stream", "Arn"]},
        {"Fn::GetAtt": ["ProcessStreamConsumer", "ConsumerARN"]},  # only with enhanced fan-out (conditional)
    ]
    assert set(_actions(kinesis[0])) == {
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "kinesis:ListShards",
    }
    assert set(_actions(kinesis[1])) == {"kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"}


def test_the_second_consumer_reads_only_the_events_table_s_stream() -> None:
    # the four actions the DynamoDB developer guide's policy for a Lambda function gives, on the
    # table's streams only ("IAM policy to allow an AWS Lambda function to access DynamoDB stream records")
    statements = _statements(
        translated()["Resources"]["AggregateRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    )
    reads = [
        s for s in statements if any(a.startswith(("kinesis:", "dynamodb:Get", "dynamodb:Desc")) for a in _actions(s))
    ]
    assert [s["Resource"] for s in reads] == [{"Fn::Sub": "${EventsTable.Arn}/stream/*"}]
    assert set(_actions(reads[0])) == {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    }


def test_the_first_consumer_can_read_through_enhanced_fan_out() -> None:
    source = load_template()
    mode = source["Parameters"]["ProcessReadMode"]
    assert mode["Default"] == "shared"
    assert set(mode["AllowedValues"]) == {"shared", "enhanced-fan-out"}
    resource = source["Resources"]["ProcessStreamConsumer"]
    assert resource["Condition"] == "ProcessUsesFanOut"
    assert resource["Properties"]["StreamARN"] == {"Fn::GetAtt": ["Stream", "Arn"]}
    stream = source["Resources"]["ProcessFunction"]["Properties"]["Events"]["Stream"]["Properties"]["Stream"]
    assert stream == {
        "Fn::If": [
            "ProcessUsesFanOut",
            {"Fn::GetAtt": ["ProcessStreamConsumer", "ConsumerARN"]},
            {"Fn::GetAtt": ["Stream", "Arn"]},
        ]
    }


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("IngestRole", {"kinesis:PutRecords", "kinesis:ListShards"}),
        ("RedriveRole", {"kinesis:PutRecords", "kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords"}),
    ],
)
def test_each_producer_may_list_the_shards_it_paces_and_nothing_beyond_its_stream(
    role: str, expected: set[str]
) -> None:
    """The producer's shard rates read the stream's shard map (ListShards); without the action the
    producer would still write, unpaced, and every call would log an access denial."""
    statements = _statements(
        translated()["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    )
    kinesis = [s for s in statements if any(a.startswith("kinesis:") for a in _actions(s))]
    assert [s["Resource"] for s in kinesis] == [{"Fn::GetAtt": ["Stream", "Arn"]}]
    assert set(_actions(kinesis[0])) == expected


def test_the_breaker_controls_only_the_consumer_s_own_mapping() -> None:
    """The breaker may read and update one event source mapping, named by its UUID, nothing else."""
    statements = _statements(
        translated()["Resources"]["BreakerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    )
    lambda_statements = [s for s in statements if any(a.startswith("lambda:") for a in _actions(s))]
    assert len(lambda_statements) == 1
    assert set(_actions(lambda_statements[0])) == {"lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"}
    resource = lambda_statements[0]["Resource"]["Fn::Sub"]
    assert resource.endswith(":event-source-mapping:${ProcessFunctionStream}")
    env = translated()["Resources"]["BreakerFunction"]["Properties"]["Environment"]["Variables"]
    assert env["MAPPING_UUID"] == {"Ref": "ProcessFunctionStream"}
    assert translated()["Resources"]["ProcessFunctionStream"]["Type"] == "AWS::Lambda::EventSourceMapping"


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_every_parameter_has_a_default_and_a_description() -> None:
    for name, spec in load_template()["Parameters"].items():
        assert "Default" in spec, name
        assert len(spec.get("Description", "")) > 20, name


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", {}), ("ShardCount=1", {"ShardCount": "1"}), ('A=1 B="x y"', {"A": "1", "B": "x y"})],
)
def test_parameter_overrides_parse_as_sam_deploy_takes_them(text: str, expected: dict[str, str]) -> None:
    assert parse_overrides(text) == expected


@pytest.mark.parametrize("text", ["ShardCount", "=1", "ParameterKey=ShardCount,ParameterValue=1"])
def test_bad_parameter_overrides_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"override|ParameterKey"):
        parse_overrides(text)


def test_an_unknown_parameter_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="NoSuchThing"):
        parameter_values(load_template(), {"NoSuchThing": "1"})


def test_overrides_reach_the_translated_template() -> None:
    template = translated((("IngestDeadlineSeconds", "5"),))
    env = template["Resources"]["IngestFunction"]["Properties"]["Environment"]["Variables"]
    assert env["INGEST_DEADLINE_SECONDS"] == {"Ref": "IngestDeadlineSeconds"}  # resolved at deploy time


def test_every_parameter_is_documented_in_the_configuration_reference() -> None:
    from tools.template import ROOT

    reference = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name for name in load_template()["Parameters"] if f"`{name}`" not in reference]
    assert not missing, f"docs/configuration.md does not describe: {missing}"


# --- the event source mapping: every setting explicit and inside AWS's ranges ---------------

ESM_RANGES = {
    "BatchSize": (1, 10_000),
    "MaximumBatchingWindowInSeconds": (0, 300),
    "ParallelizationFactor": (1, 10),
    "MaximumRetryAttempts": (0, 10_000),  # -1 (forever) is AWS's default and never allowed here
    "MaximumRecordAgeInSeconds": (60, 604_800),  # likewise -1
}
# The aggregates consumer's own: "TumblingWindowInSeconds ... 0-900" (Lambda API reference), 0 meaning none.
WINDOW_RANGE = (1, 900)


def test_the_tumbling_window_parameter_cannot_leave_the_aws_range() -> None:
    spec = load_template()["Parameters"]["TumblingWindowInSeconds"]
    low, high = WINDOW_RANGE
    assert low <= int(spec["MinValue"]) <= int(spec["Default"]) <= int(spec["MaxValue"]) <= high


def _mapping() -> dict[str, Any]:
    return dict(resources("AWS::Lambda::EventSourceMapping")["ProcessFunctionStream"]["Properties"])


def test_the_mapping_sets_every_setting_explicitly() -> None:
    props = _mapping()
    assert props["BisectBatchOnFunctionError"] is True
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["EventSourceArn"] == {
        "Fn::If": [
            "ProcessUsesFanOut",
            {"Fn::GetAtt": ["ProcessStreamConsumer", "ConsumerARN"]},
            {"Fn::GetAtt": ["Stream", "Arn"]},
        ]
    }
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::If": [
            "UseS3FailureDestination",
            {"Fn::GetAtt": ["FailureBucket", "Arn"]},
            {"Fn::GetAtt": ["FailureQueue", "Arn"]},
        ]
    }
    for setting in ESM_RANGES:
        assert props[setting] == {"Ref": setting}, f"{setting} is not a template parameter"


@pytest.mark.parametrize(("setting", "bounds"), list(ESM_RANGES.items()))
def test_each_mapping_parameter_cannot_leave_the_aws_range(setting: str, bounds: tuple[int, int]) -> None:
    spec = load_template()["Parameters"][setting]
    low, high = bounds
    assert low <= int(spec["MinValue"]) <= int(spec["Default"]) <= int(spec["MaxValue"]) <= high


def test_consumer_timeout_and_concurrency_fit_the_mapping() -> None:
    values = parameter_values(load_template())
    # (a reservation, when one is set, covers the mapping: tests/template/test_deploy_checks.py)
    # record age covers more than one full round of retries of a batch that times out every time
    retries = int(values["MaximumRetryAttempts"]) + 1
    assert int(values["MaximumRecordAgeInSeconds"]) >= retries * int(values["ProcessTimeoutSeconds"])
    process = translated()["Resources"]["ProcessFunction"]["Properties"]
    assert process["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasProcessReservedConcurrency", {"Ref": "ProcessReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    # One full vCPU: the consumer is CPU-bound, and below 1,769 MB Lambda gives a fraction of one.
    assert process["MemorySize"] == {"Ref": "ProcessMemorySize"}
    assert int(load_template()["Parameters"]["ProcessMemorySize"]["Default"]) == 1769


@pytest.mark.parametrize("destination", ["S3", "SQS"])
def test_the_failure_destination_is_encrypted_and_writable_by_the_consumer_only(destination: str) -> None:
    template = translated((("FailureDestinationType", destination),))
    policy = template["Resources"]["ProcessRole"]["Properties"]["Policies"]
    statements = json_dump(policy)
    if destination == "S3":
        bucket = template["Resources"]["FailureBucket"]["Properties"]
        assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert all(bucket["PublicAccessBlockConfiguration"].values())
        assert bucket["LifecycleConfiguration"]["Rules"]
        tls = template["Resources"]["FailureBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
        assert tls["Effect"] == "Deny"
        assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert '"s3:ResourceAccount"' in statements
    else:
        assert template["Resources"]["FailureQueue"]["Properties"]["SqsManagedSseEnabled"] is True
        assert "FailureQueue" in statements


def json_dump(value: Any) -> str:
    import json

    return json.dumps(value)


def test_tables_are_encrypted_with_the_free_aws_owned_key_and_idempotency_has_ttl_on_expiration() -> None:
    resources_ = translated()["Resources"]
    tables = [name for name, r in resources_.items() if r["Type"] == "AWS::DynamoDB::Table"]
    assert len(tables) == 5
    for name in tables:
        # DynamoDB encrypts every table at rest and cannot be told not to; SSEEnabled false picks the
        # AWS owned key (no charge), true the AWS managed key (KMS requests billed). An explicit choice.
        assert resources_[name]["Properties"]["SSESpecification"] == {"SSEEnabled": False}, name
    idempotency = resources_["IdempotencyTable"]["Properties"]
    assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    # the code's names for the same keys (the coalesced writes and Powertools are told them)
    from weir.consumer.dynamodb_sink import DynamoDBEventSink
    from weir.consumer.idempotency import IDEMPOTENCY_KEY

    assert idempotency["KeySchema"][0]["AttributeName"] == IDEMPOTENCY_KEY
    events_key = resources_["EventsTable"]["Properties"]["KeySchema"]
    assert events_key == [{"AttributeName": DynamoDBEventSink.KEY, "KeyType": "HASH"}]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


CONTRACT_OUTPUTS = {
    "IngestApiUrl",
    "StreamName",
    "StreamArn",
    "EventsTableName",
    "IdempotencyTableName",
    "FailureDestinationArn",
    "OverflowQueueUrl",
    "QuarantineArn",
    "RedriveFunctionName",
    "DashboardName",
}


@pytest.mark.parametrize("destination", ["S3", "SQS"])
def test_the_stack_has_every_contract_output(destination: str) -> None:
    outputs = translated((("FailureDestinationType", destination),))["Outputs"]
    assert set(outputs) >= CONTRACT_OUTPUTS


def test_every_place_a_record_can_wait_has_an_alarm_on_the_alarm_topic() -> None:
    template = translated((("FailureDestinationType", "SQS"),))
    alarms = resources("AWS::CloudWatch::Alarm", template)
    watched_queues = {
        str(d["Value"]["Fn::GetAtt"][0])
        for a in alarms.values()
        for d in a["Properties"].get("Dimensions", [])
        if d["Name"] == "QueueName"
    }
    assert watched_queues >= {"OverflowQueue", "QuarantineQueue", "UnrecoverableQueue", "FailureQueue"}
    metrics = {a["Properties"].get("MetricName") for a in alarms.values()}
    assert {"IteratorAge", "5xx", "WriteProvisionedThroughputExceeded", "Errors", "Throttles"} <= metrics
    assert "RedriveRunsFailed" in metrics
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())


def test_the_breaker_alarms_when_it_opens_and_before_records_outlive_their_maximum_age() -> None:
    alarms = {a["Properties"].get("MetricName"): a["Properties"] for a in resources("AWS::CloudWatch::Alarm").values()}
    assert alarms["BreakerOpen"]["Threshold"] == 0
    assert alarms["BreakerOpen"]["OKActions"] == [{"Ref": "AlarmTopic"}]  # and says when it closes
    assert alarms["BreakerOpenShareOfRecordAge"]["Threshold"] == 0.5
    assert alarms["BreakerOpenShareOfRecordAge"]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    env = translated()["Resources"]["BreakerFunction"]["Properties"]["Environment"]["Variables"]
    assert env["MAXIMUM_RECORD_AGE_SECONDS"] == {"Ref": "MaximumRecordAgeInSeconds"}


def test_deliveries_to_the_s3_failure_destination_raise_an_alarm() -> None:
    template = translated((("FailureDestinationType", "S3"),))
    bucket = template["Resources"]["FailureBucket"]["Properties"]
    (metrics_filter,) = bucket["MetricsConfigurations"]
    # Lambda writes aws/lambda/<mapping>/<shard>/...; the redrive moves objects out from under it.
    assert metrics_filter["Prefix"] == "aws/lambda/"
    from weir.redrive.bucket_source import BucketSource

    assert metrics_filter["Prefix"] == BucketSource.PREFIX
    alarm = template["Resources"]["FailureObjectsArrivedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/S3", "PutRequests", "Sum")
    assert {"Name": "FilterId", "Value": metrics_filter["Id"]} in alarm["Dimensions"]
    assert {"Name": "BucketName", "Value": {"Ref": "FailureBucket"}} in alarm["Dimensions"]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert template["Resources"]["FailureObjectsArrivedAlarm"]["Condition"] == "UseS3FailureDestination"
    assert template["Resources"]["FailureQueueNotEmptyAlarm"]["Condition"] == "UseSqsFailureDestination"


def test_the_two_consumers_share_the_safe_mapping_settings_and_the_second_has_tumbling_windows() -> None:
    resources = translated()["Resources"]
    mappings = {
        name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Lambda::EventSourceMapping"
    }
    process, aggregate = mappings["ProcessFunctionStream"], mappings["AggregateFunctionStored"]
    for key in (
        "StartingPosition",
        "BatchSize",
        "MaximumRetryAttempts",
        "MaximumRecordAgeInSeconds",
        "BisectBatchOnFunctionError",
        "FunctionResponseTypes",
        "DestinationConfig",
    ):
        assert aggregate[key] == process[key], key
    assert aggregate["TumblingWindowInSeconds"] == {"Ref": "TumblingWindowInSeconds"}
    assert aggregate["ParallelizationFactor"] == 1  # a window's state is per shard
    assert process["TumblingWindowInSeconds"] == 0
    # the second consumer reads what the first stored: the events table's stream, new items only
    assert aggregate["EventSourceArn"] == {"Fn::GetAtt": ["EventsTable", "StreamArn"]}
    assert resources["EventsTable"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    [pattern] = [json.loads(f["Pattern"]) for f in aggregate["FilterCriteria"]["Filters"]]
    assert pattern == {"eventName": ["INSERT"]}
    outputs = load_template()["Outputs"]
    assert outputs["AggregatesTableName"]["Value"] == {"Ref": "AggregatesTable"}
    table = resources["AggregatesTable"]["Properties"]
    assert table["KeySchema"] == [
        {"AttributeName": "window_start", "KeyType": "HASH"},
        {"AttributeName": "type", "KeyType": "RANGE"},
    ]


def test_the_stream_s_writer_is_updated_after_its_reader() -> None:
    # A field the ingest function starts to write must meet a process function that keeps it: in one
    # stack update CloudFormation updates a resource after those it DependsOn.
    ingest = translated()["Resources"]["IngestFunction"]
    depends = ingest.get("DependsOn", [])
    assert "ProcessFunction" in ([depends] if isinstance(depends, str) else depends)


def test_latency_is_alarmed_on_its_p99_and_graphed_with_the_mappings_own_counts() -> None:
    template = translated()
    alarm = template["Resources"]["IngestToStoreLatencyAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["ExtendedStatistic"]) == (
        "Weir",
        "IngestToStoreLatency",
        "p99",
    )
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "process"}]  # what Powertools emits (service)
    assert alarm["Threshold"] == {"Ref": "IngestToStoreLatencyAlarmMilliseconds"}
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    # the metric names the consumers emit, so the alarm and graphs watch what exists
    from weir.aggregates.service import AGGREGATE_LATENCY
    from weir.consumer.processor import STORE_LATENCY
    from weir.origin import REDRIVE, REPLAY, latency_metric

    assert alarm["MetricName"] == STORE_LATENCY
    body = json.dumps(template["Resources"]["Dashboard"]["Properties"]["DashboardBody"])
    for name in (STORE_LATENCY, AGGREGATE_LATENCY, *(latency_metric(STORE_LATENCY, o) for o in (REDRIVE, REPLAY))):
        assert f'\\"{name}\\"' in body, name
    assert body.count('{\\"stat\\": \\"p99\\"}') >= 3
    assert '{\\"stat\\": \\"p50\\"}' in body
    # both mappings publish Lambda's event counts, and the dashboard graphs them by mapping
    mappings = resources("AWS::Lambda::EventSourceMapping", template)
    assert {name: m["Properties"]["MetricsConfig"] for name, m in mappings.items()} == {
        "ProcessFunctionStream": {"Metrics": ["EventCount"]},
        "AggregateFunctionStored": {"Metrics": ["EventCount"]},
    }
    for mapping in mappings:
        assert "${" + mapping + "}" in body
    assert "PolledEventCount" in body
    assert "DroppedEventCount" in body


def test_a_budget_exists_only_when_asked_for_and_can_reach_the_alarm_topic() -> None:
    template = translated((("MonthlyBudgetUsd", "250"),))
    budget = template["Resources"]["MonthlyBudget"]
    # the default (0) creates none
    assert budget["Condition"] == "HasBudget"
    assert template["Conditions"]["HasBudget"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "MonthlyBudgetUsd"}, 0]}]}
    assert load_template()["Parameters"]["MonthlyBudgetUsd"]["Default"] == 0
    assert budget["Properties"]["Budget"]["BudgetLimit"] == {"Amount": {"Ref": "MonthlyBudgetUsd"}, "Unit": "USD"}
    subscribers = [s for n in budget["Properties"]["NotificationsWithSubscribers"] for s in n["Subscribers"]]
    assert subscribers
    assert all(s == {"SubscriptionType": "SNS", "Address": {"Ref": "AlarmTopic"}} for s in subscribers)
    # the encrypted topic lets Budgets publish: its policy, and its key's policy
    statements = template["Resources"]["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    publishers = {s["Principal"].get("Service") for s in statements if s["Action"] == "sns:Publish"}
    assert publishers == {"budgets.amazonaws.com", "cloudwatch.amazonaws.com"}  # the alarms keep publishing
    key = template["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(
        s["Principal"] == {"Service": "budgets.amazonaws.com"} and "kms:GenerateDataKey*" in s["Action"] for s in key
    )
