"""Messages larger than SQS takes go through S3 with a pointer, and every reader takes both forms."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.fakes import FakeClock, FakeKinesis
from weir.deadline import Deadline
from weir.large_messages import SQS_MAX_MESSAGE_BYTES, LargeMessageStore, PointerError
from weir.producer import Producer
from weir.redrive.attempts import AttemptCounter
from weir.redrive.limiter import RateLimiter
from weir.redrive.queue_source import QueueSource
from weir.redrive.request import RedriveRequest
from weir.redrive.service import RedriveService
from weir.redrive.sources import overflow_records, quarantine_records
from weir.redrive.unrecoverable import UnrecoverableSink

BUCKET = "large-bodies"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    from tests.stack import create_table

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        create_table(dynamodb, "RedriveAttemptsTable", "attempts")
        queues = {
            name: sqs.create_queue(QueueName=name, Attributes={"MaximumMessageSize": str(SQS_MAX_MESSAGE_BYTES)})[
                "QueueUrl"
            ]
            for name in ("quarantine", "overflow", "unrecoverable")
        }
        yield {"s3": s3, "sqs": sqs, "dynamodb": dynamodb, **queues}


def bodies(aws: dict[str, Any], queue: str) -> list[str]:
    page = aws["sqs"].receive_message(QueueUrl=aws[queue], MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [m["Body"] for m in page.get("Messages", [])]


def objects(aws: dict[str, Any]) -> list[str]:
    return [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_a_body_that_fits_is_sent_as_it_is_and_one_that_does_not_through_s3(aws: dict[str, Any]) -> None:
    store = LargeMessageStore(aws["s3"], BUCKET, "quarantine", now=lambda: datetime(2026, 11, 24, tzinfo=UTC))
    fits = "a" * SQS_MAX_MESSAGE_BYTES
    store.send(aws["sqs"], aws["quarantine"], fits, {"reason": "small"})
    too_big = "b" * (SQS_MAX_MESSAGE_BYTES + 1)
    store.send(aws["sqs"], aws["quarantine"], too_big, {"reason": "large"})
    sent = bodies(aws, "quarantine")
    assert fits in sent
    [pointer] = [json.loads(b) for b in sent if b != fits]
    assert pointer["summary"] == {"reason": "large"}
    assert pointer["key"].startswith("quarantine/2026/11/24/")
    assert store.resolve(json.dumps(pointer)).body == too_big
    assert store.resolve(fits).body == fits
    assert store.resolve(fits).object_key is None


def test_a_pointer_to_a_changed_or_missing_object_is_an_error_naming_it(aws: dict[str, Any]) -> None:
    store = LargeMessageStore(aws["s3"], BUCKET, "quarantine")
    store.send(aws["sqs"], aws["quarantine"], "c" * (SQS_MAX_MESSAGE_BYTES + 10), {})
    [body] = bodies(aws, "quarantine")
    key = json.loads(body)["key"]
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=b"tampered")
    with pytest.raises(PointerError, match="sha256"):
        store.resolve(body)
    aws["s3"].delete_object(Bucket=BUCKET, Key=key)
    with pytest.raises(PointerError, match=key):
        store.resolve(body)


def redrive(aws: dict[str, Any], queue: str, to_records: Any) -> tuple[RedriveService, FakeKinesis]:
    clock = FakeClock()
    kinesis = FakeKinesis()
    sink = UnrecoverableSink(aws["sqs"], aws["unrecoverable"], LargeMessageStore(aws["s3"], BUCKET, "unrecoverable"))
    source = QueueSource(queue, aws["sqs"], aws[queue], to_records, sink, LargeMessageStore(aws["s3"], BUCKET, "x"))  # type: ignore[arg-type]
    producer = Producer(kinesis, "stream", call_seconds=0.1, sleep=clock.sleep, clock=clock)
    attempts = AttemptCounter(aws["dynamodb"], "attempts")
    service = RedriveService({queue: source}, producer, attempts, 3, RateLimiter(10_000))  # type: ignore[dict-item]
    return service, kinesis


def test_a_quarantined_record_at_the_maximum_size_is_redriven_and_its_body_deleted(aws: dict[str, Any]) -> None:
    data = b"y" * (1024 * 1024 - 1)
    message = {
        "kind": "weir.quarantine",
        "reason": "x",
        "record": {"data": base64.b64encode(data).decode(), "partition_key": "k"},
    }
    LargeMessageStore(aws["s3"], BUCKET, "quarantine").send(aws["sqs"], aws["quarantine"], json.dumps(message), {})
    assert len(objects(aws)) == 1
    service, kinesis = redrive(aws, "quarantine", quarantine_records)
    report = service.run(RedriveRequest(sources=("quarantine",)), Deadline(60))
    assert report.counts["quarantine"]["records_redriven"] == 1
    assert kinesis.written == [("k", data)]
    assert bodies(aws, "quarantine") == []
    assert objects(aws) == []  # the body went with its message


def test_an_overflow_message_near_the_limit_is_parked_as_unrecoverable_through_s3(aws: dict[str, Any]) -> None:
    # GIVEN an overflow message just under SQS's limit whose event cannot be read back
    body = json.dumps({"kind": "weir.overflow", "event": "not-an-object", "pad": "z" * (SQS_MAX_MESSAGE_BYTES - 100)})
    assert len(body) <= SQS_MAX_MESSAGE_BYTES
    aws["sqs"].send_message(QueueUrl=aws["overflow"], MessageBody=body)
    service, _ = redrive(aws, "overflow", overflow_records)
    # WHEN the redrive parks it: wrapped with the reason it no longer fits in a message
    report = service.run(RedriveRequest(sources=("overflow",)), Deadline(60))
    # THEN the run completes, and the unrecoverable queue holds a pointer to the whole of it
    assert report.counts["overflow"]["unrecoverable"] == 1
    assert report.complete is True
    [parked] = [json.loads(b) for b in bodies(aws, "unrecoverable")]
    assert parked["kind"] == "weir.s3-pointer"
    assert parked["summary"]["kind"] == "weir.unrecoverable"
    assert "not an overflow message" in parked["summary"]["reason"]
    wrapped = LargeMessageStore(aws["s3"], BUCKET, "unrecoverable").resolve(json.dumps(parked)).body
    assert json.loads(wrapped)["body"] == body
