"""Redrive end to end on stacks deployed from template.yaml into the local endpoint."""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

import functions.process.app as process_app
import functions.redrive.app as redrive_app
from local.cloudformation.deployer import Deployer, LocalStack
from tests.aws_helpers import read_stream
from tests.endpoint import LocalEndpoint
from tests.factories import envelope
from tests.fakes import FakeLambdaContext
from tests.unit.test_failures import SQS_RECORD, s3_record
from weir.kpl import UserRecord, aggregate

pytestmark = pytest.mark.integration


class Pipeline:
    def __init__(self, endpoint: LocalEndpoint, stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
        self.endpoint = endpoint
        self.stack = stack
        self.kinesis = boto3.client("kinesis", endpoint_url=endpoint.url)
        self.sqs = boto3.client("sqs", endpoint_url=endpoint.url)
        self.s3 = boto3.client("s3", endpoint_url=endpoint.url)
        self.dynamodb = boto3.client("dynamodb", endpoint_url=endpoint.url)
        for function in ("RedriveFunction", "ProcessFunction"):
            for name, value in stack.functions[function].environment.items():
                monkeypatch.setenv(name, value)
        for cached in (redrive_app.service, redrive_app.config, process_app.service):
            cached.cache_clear()

    @property
    def stream(self) -> str:
        return self.stack.outputs["StreamName"]

    def env(self, name: str) -> str:
        return self.stack.functions["RedriveFunction"].environment[name]

    def redrive(self, **request: Any) -> dict[str, Any]:
        return dict(redrive_app.lambda_handler(request, FakeLambdaContext(timeout_seconds=120)))

    def put(self, events: list[dict[str, Any]]) -> list[Any]:
        response = self.kinesis.put_records(
            StreamName=self.stream,
            Records=[{"Data": json.dumps(e).encode(), "PartitionKey": e["partition_key"]} for e in events],
        )
        return list(response["Records"])

    def stream_ids(self) -> Counter[str]:
        return Counter(r["event"]["event_id"] for r in read_stream(self.kinesis, self.stream))

    def queue_bodies(self, env_name: str) -> list[dict[str, Any]]:
        url = self.env(env_name)
        page = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [json.loads(m["Body"]) for m in page.get("Messages", [])]

    def process_stream(self) -> None:
        """What the event source mapping would do: hand every record on the stream to the consumer."""
        kinesis_records = []
        for record in read_stream(self.kinesis, self.stream):
            kinesis_records.append(
                {
                    "kinesis": {
                        "partitionKey": record["partition_key"],
                        "data": base64.b64encode(json.dumps(record["event"]).encode()).decode(),
                        "sequenceNumber": record["sequence_number"],
                        "approximateArrivalTimestamp": 1795437600.0,
                        "kinesisSchemaVersion": "1.0",
                    },
                    "eventSource": "aws:kinesis",
                    "eventID": f"{record['shard_id']}:{record['sequence_number']}",
                    "eventSourceARN": self.stack.outputs["StreamArn"],
                    "awsRegion": "us-east-1",
                    "eventName": "aws:kinesis:record",
                    "eventVersion": "1.0",
                    "invokeIdentityArn": "arn:aws:iam::123456789012:role/weir",
                }
            )
        response = process_app.lambda_handler({"Records": kinesis_records}, FakeLambdaContext(timeout_seconds=60))
        assert response == {"batchItemFailures": []}

    def stored(self) -> list[str]:
        table = self.stack.outputs["EventsTableName"]
        return [i["event_id"]["S"] for i in self.dynamodb.scan(TableName=table)["Items"]]


@pytest.fixture
def pipeline(local_aws: LocalEndpoint, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Pipeline]:
    def deploy(**params: str) -> Pipeline:
        stack = Deployer(local_aws.url, stack_name=local_aws.unique("weir")).deploy({"ShardCount": "1", **params})
        return Pipeline(local_aws, stack, monkeypatch)

    return deploy


@pytest.fixture
def s3_pipeline(pipeline: Callable[..., Pipeline]) -> Pipeline:
    return pipeline()


def s3_failure_key() -> str:
    return f"aws/lambda/{uuid.uuid4()}/shardId-000000000000/2026/11/23/2026-11-23T12.00.00-{uuid.uuid4()}"


def put_s3_failure(p: Pipeline, events: list[dict[str, Any]], key: str | None = None) -> str:
    key = key or s3_failure_key()
    items = [(json.dumps(e).encode(), e["partition_key"], str(1000 + i)) for i, e in enumerate(events)]
    p.s3.put_object(Bucket=p.env("FAILURE_BUCKET_NAME"), Key=key, Body=json.dumps(s3_record(items)).encode())
    return key


def keys_in(p: Pipeline, prefix: str) -> list[str]:
    listing = p.s3.list_objects_v2(Bucket=p.env("FAILURE_BUCKET_NAME"), Prefix=prefix)
    return [o["Key"] for o in listing.get("Contents", [])]


def test_an_aggregated_record_is_redriven_whole_and_counted_by_its_events(s3_pipeline: Pipeline) -> None:
    # GIVEN an on-failure object holding one KPL aggregate of four events and one plain event
    p = s3_pipeline
    inside = [envelope(event_id=f"agg-{i}", partition_key=f"k{i}") for i in range(4)]
    packed = aggregate([UserRecord(e["partition_key"], json.dumps(e).encode()) for e in inside])
    plain = envelope(event_id="plain", partition_key="p")
    items = [(packed, "k0", "1000"), (json.dumps(plain).encode(), "p", "1001")]
    p.s3.put_object(
        Bucket=p.env("FAILURE_BUCKET_NAME"), Key=s3_failure_key(), Body=json.dumps(s3_record(items)).encode()
    )
    # WHEN it is redriven
    report = p.redrive()
    # THEN both records are back, the aggregate whole, and the report counts five events
    counts = report["counts"]["s3-failures"]
    assert (counts["records_redriven"], counts["events_redriven"]) == (2, 5)
    assert p.stream_ids() == Counter({"agg-0": 1, "agg-1": 1, "agg-2": 1, "agg-3": 1, "plain": 1})


def test_s3_failure_objects_are_re_put_and_moved_to_redriven(s3_pipeline: Pipeline) -> None:
    p = s3_pipeline
    events = [envelope(event_id=f"s3-{i}", partition_key=f"k{i}") for i in range(5)]
    key = put_s3_failure(p, events)
    report = p.redrive()
    assert report["counts"]["s3-failures"] == {
        "items": 1,
        "records_redriven": 5,
        "events_redriven": 5,
        "items_redriven": 1,
    }
    assert p.stream_ids() == Counter({f"s3-{i}": 1 for i in range(5)})
    assert keys_in(p, "aws/lambda/") == []
    assert keys_in(p, "redriven/") == [f"redriven/{key}"]


def test_a_dry_run_changes_nothing(s3_pipeline: Pipeline) -> None:
    p = s3_pipeline
    key = put_s3_failure(p, [envelope(event_id="dry", partition_key="k")])
    report = p.redrive(dry_run=True)
    assert report["dry_run"] is True
    assert report["counts"]["s3-failures"] == {"items": 1, "would_redrive_records": 1}
    assert p.stream_ids() == Counter()
    assert keys_in(p, "aws/lambda/") == [key]


def test_a_crash_between_re_put_and_delete_loses_nothing_and_duplicates_nothing_in_the_sink(
    s3_pipeline: Pipeline, local_aws: LocalEndpoint
) -> None:
    p = s3_pipeline
    events = [envelope(event_id=f"crash-{i}", partition_key=f"k{i}") for i in range(3)]
    put_s3_failure(p, events)
    # GIVEN S3 refuses to delete (the copy to redriven/ succeeds): the run dies after the re-put
    local_aws.add_fault(service="s3", operation="DeleteObject", error="InternalError", status=500, count=3)
    with pytest.raises(ClientError, match="InternalError"):
        p.redrive()
    assert len(keys_in(p, "aws/lambda/")) == 1  # the item is still there
    # WHEN redrive runs again
    report = p.redrive()
    assert report["counts"]["s3-failures"]["records_redriven"] == 3
    # THEN the stream holds every record twice, and the sink once
    assert p.stream_ids() == Counter({f"crash-{i}": 2 for i in range(3)})
    p.process_stream()
    assert sorted(p.stored()) == sorted(e["event_id"] for e in events)


def test_redriving_twice_is_safe(s3_pipeline: Pipeline) -> None:
    p = s3_pipeline
    put_s3_failure(p, [envelope(event_id="twice", partition_key="k")])
    p.redrive()
    second = p.redrive()
    assert second["counts"].get("s3-failures", {}).get("items", 0) == 0
    assert p.stream_ids() == Counter({"twice": 1})


def test_a_record_that_keeps_failing_comes_back_and_stops_after_the_bound(s3_pipeline: Pipeline) -> None:
    p = s3_pipeline
    event = envelope(event_id="boomerang", partition_key="k")
    bound = int(p.env("REDRIVE_MAX_ATTEMPTS"))
    for attempt in range(1, bound + 1):
        # the consumer failed it again: the mapping wrote a new failure object
        put_s3_failure(p, [event])
        report = p.redrive()
        assert report["counts"]["s3-failures"]["records_redriven"] == 1, attempt
    put_s3_failure(p, [event])
    report = p.redrive()
    assert report["counts"]["s3-failures"] == {"items": 1, "attempts_exhausted": 1}
    assert p.stream_ids() == Counter({"boomerang": bound})
    assert len(keys_in(p, "unrecoverable/")) == 1
    [message] = p.queue_bodies("UNRECOVERABLE_QUEUE_URL")
    assert message["kind"] == "weir.unrecoverable"
    assert "bound is" in message["reason"]


def test_sqs_pointers_are_read_back_from_the_stream_across_pages(pipeline: Callable[..., Pipeline]) -> None:
    p = pipeline(FailureDestinationType="SQS")
    events = [envelope(event_id=f"ptr-{i}", partition_key="k") for i in range(30)]
    written = p.put(events)
    # a pointer to records 4..24, in the exact SQS format
    info = {
        **SQS_RECORD["KinesisBatchInfo"],
        "shardId": written[4]["ShardId"],
        "startSequenceNumber": written[4]["SequenceNumber"],
        "endSequenceNumber": written[24]["SequenceNumber"],
        "batchSize": 21,
        "streamArn": p.stack.outputs["StreamArn"],
    }
    p.sqs.send_message(
        QueueUrl=p.env("FAILURE_QUEUE_URL"), MessageBody=json.dumps({**SQS_RECORD, "KinesisBatchInfo": info})
    )
    report = p.redrive()
    assert report["counts"]["sqs-failures"] == {
        "items": 1,
        "records_redriven": 21,
        "events_redriven": 21,
        "items_redriven": 1,
    }
    expected = Counter({f"ptr-{i}": 1 for i in range(30)}) + Counter({f"ptr-{i}": 1 for i in range(4, 25)})
    assert p.stream_ids() == expected
    assert p.queue_bodies("FAILURE_QUEUE_URL") == []


def test_a_pointer_whose_records_expired_goes_to_unrecoverable_and_is_kept(pipeline: Callable[..., Pipeline]) -> None:
    p = pipeline(FailureDestinationType="SQS")
    written = p.put([envelope(event_id="still-here", partition_key="k")])
    # a range that starts before anything the stream still holds: retention trimmed it
    start = str(int(written[0]["SequenceNumber"]) - 10**20)
    info = {
        **SQS_RECORD["KinesisBatchInfo"],
        "shardId": written[0]["ShardId"],
        "startSequenceNumber": start,
        "endSequenceNumber": written[0]["SequenceNumber"],
        "streamArn": p.stack.outputs["StreamArn"],
    }
    body = json.dumps({**SQS_RECORD, "KinesisBatchInfo": info})
    p.sqs.send_message(QueueUrl=p.env("FAILURE_QUEUE_URL"), MessageBody=body)
    report = p.redrive()
    assert report["counts"]["sqs-failures"] == {"items": 1, "unrecoverable": 1}
    [moved] = p.queue_bodies("UNRECOVERABLE_QUEUE_URL")
    assert moved["source"] == "sqs-failures"
    assert "expired" in moved["reason"]
    assert moved["body"] == body  # the pointer itself is kept, with the reason
    assert p.stream_ids() == Counter({"still-here": 1})


def test_quarantine_and_overflow_items_are_re_put(s3_pipeline: Pipeline) -> None:
    p = s3_pipeline
    fixed = envelope(event_id="fixed-later", partition_key="q")
    quarantine = {
        "kind": "weir.quarantine",
        "version": 1,
        "reason": "invalid envelope",
        "record": {
            "data": base64.b64encode(json.dumps(fixed).encode()).decode(),
            "partition_key": "q",
            "sequence_number": "1",
            "shard_id": "shardId-000000000000",
        },
    }
    p.sqs.send_message(QueueUrl=p.env("QUARANTINE_QUEUE_URL"), MessageBody=json.dumps(quarantine))
    spilled = envelope(event_id="spilled", partition_key="o")
    overflow = {"kind": "weir.overflow", "version": 1, "reason": {"code": "DeadlineExceeded"}, "event": spilled}
    p.sqs.send_message(QueueUrl=p.env("OVERFLOW_QUEUE_URL"), MessageBody=json.dumps(overflow))
    report = p.redrive(sources=["quarantine", "overflow"])
    assert report["counts"]["quarantine"]["records_redriven"] == 1
    assert report["counts"]["overflow"]["records_redriven"] == 1
    assert p.stream_ids() == Counter({"fixed-later": 1, "spilled": 1})
    assert p.queue_bodies("QUARANTINE_QUEUE_URL") == []
    assert p.queue_bodies("OVERFLOW_QUEUE_URL") == []


def test_max_items_and_a_bad_request(s3_pipeline: Pipeline) -> None:
    p = s3_pipeline
    for i in range(3):
        put_s3_failure(p, [envelope(event_id=f"m{i}", partition_key="k")])
    report = p.redrive(max_items=2)
    assert report["counts"]["s3-failures"]["items_redriven"] == 2
    assert report["complete"] is False
    with pytest.raises(ValueError, match="sources"):
        p.redrive(sources=["nowhere"])


def test_a_local_deploy_answers_every_contract_output(pipeline: Callable[..., Pipeline]) -> None:
    from tests.template.test_template import CONTRACT_OUTPUTS

    p = pipeline()
    assert set(p.stack.outputs) >= CONTRACT_OUTPUTS
    assert all(p.stack.outputs[name] for name in CONTRACT_OUTPUTS)
    cloudwatch = boto3.client("cloudwatch", endpoint_url=p.endpoint.url)
    body = json.loads(cloudwatch.get_dashboard(DashboardName=p.stack.outputs["DashboardName"])["DashboardBody"])
    widgets = {w["properties"]["title"]: w["properties"] for w in body["widgets"] if w["type"] == "metric"}
    (text,) = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    assert "not planned US dollars per million events" in text  # PlannedCostPerMillionEvents' default
    bucket = p.stack.outputs["FailureDestinationArn"].rsplit(":", 1)[-1]
    deliveries = widgets["On-failure destination: objects delivered"]["metrics"]
    assert deliveries[0][:6] == ["AWS/S3", "PutRequests", "BucketName", bucket, "FilterId", "OnFailureDeliveries"]
