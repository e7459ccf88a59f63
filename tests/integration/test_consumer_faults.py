"""The process handler against the local endpoint (moto server behind the gateway) with DynamoDB faults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

import functions.process.app as process_app
from tests.endpoint import LocalEndpoint
from tests.factories import envelope_bytes, kinesis_event
from tests.fakes import FakeLambdaContext
from tests.stack import create_consumer_resources

pytestmark = pytest.mark.integration


@pytest.fixture
def consumer(local_aws: LocalEndpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb", endpoint_url=local_aws.url)
    sqs = boto3.client("sqs", endpoint_url=local_aws.url)
    events, idempotency = local_aws.unique("events"), local_aws.unique("idempotency")
    # one key at a time, so which record meets the fault is certain
    environment = create_consumer_resources(
        dynamodb, sqs, events, idempotency, local_aws.unique("quarantine"), ConsumerKeyConcurrency="1"
    )
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    process_app.service.cache_clear()
    yield {"dynamodb": dynamodb, "events": events, "idempotency": idempotency}
    process_app.service.cache_clear()


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return dict(process_app.lambda_handler(event, FakeLambdaContext(timeout_seconds=60)))


def stored(consumer: dict[str, Any]) -> dict[str, str]:
    items = consumer["dynamodb"].scan(TableName=consumer["events"])["Items"]
    return {i["event_id"]["S"]: i["stored_at"]["S"] for i in items}


def idempotency_items(consumer: dict[str, Any]) -> list[dict[str, Any]]:
    return list(consumer["dynamodb"].scan(TableName=consumer["idempotency"])["Items"])


def batch(ids: range) -> dict[str, Any]:
    # one key per event: a failure affects only its own record
    return kinesis_event([(envelope_bytes(event_id=f"r{i}", partition_key=f"k{i}"), f"k{i}") for i in ids])


def throttle_sink_once(local_aws: LocalEndpoint, table: str) -> str:
    # Four calls for one record: its coalesced batch statement, then the three attempts
    # (DYNAMODB_MAX_ATTEMPTS) of the single call it falls back to.
    return local_aws.add_fault(
        service="dynamodb",
        operation="PutItem",
        error="ProvisionedThroughputExceededException",
        status=400,
        match={"TableName": table},
        count=4,
    )


def test_a_throttled_sink_reports_the_record_leaves_nothing_half_written_and_no_stuck_idempotency(
    local_aws: LocalEndpoint, consumer: dict[str, Any]
) -> None:
    # GIVEN an events table that throttles the first record's writes
    throttle_sink_once(local_aws, consumer["events"])
    event = batch(range(4))
    # WHEN the batch is processed
    response = invoke(event)
    # THEN exactly that record is reported, the others are stored
    first = event["Records"][0]["kinesis"]["sequenceNumber"]
    assert response == {"batchItemFailures": [{"itemIdentifier": first}]}
    assert sorted(stored(consumer)) == ["r1", "r2", "r3"]
    # AND its idempotency record was removed, not left IN_PROGRESS
    assert {i["status"]["S"] for i in idempotency_items(consumer)} == {"COMPLETED"}
    assert len(idempotency_items(consumer)) == 3
    # AND when Lambda delivers it again it is stored
    assert invoke(batch(range(1))) == {"batchItemFailures": []}
    assert sorted(stored(consumer)) == ["r0", "r1", "r2", "r3"]


def test_overlapping_batches_after_a_partial_checkpoint_write_each_event_once(
    local_aws: LocalEndpoint, consumer: dict[str, Any]
) -> None:
    # GIVEN r0 and r1 already processed, and a first batch r0..r5 whose r2 write is throttled
    # (r0 and r1 are answered from their idempotency records, so the first sink write is r2's)
    events = [f"r{i}" for i in range(8)]
    invoke(batch(range(2)))
    throttle_sink_once(local_aws, consumer["events"])
    first_batch = batch(range(6))
    response = invoke(first_batch)
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert failed == [first_batch["Records"][2]["kinesis"]["sequenceNumber"]]
    before = stored(consumer)
    # WHEN Lambda checkpoints before r2 and delivers r2..r7 (overlapping r3..r5 already stored)
    assert invoke(batch(range(2, 8))) == {"batchItemFailures": []}
    # THEN every event is stored exactly once, and the overlap was not rewritten
    after = stored(consumer)
    assert sorted(after) == sorted(events)
    assert all(after[k] == v for k, v in before.items())


def test_with_key_concurrency_the_writes_of_a_batch_share_calls_and_every_event_is_stored_once(
    consumer: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSUMER_KEY_CONCURRENCY", "8")
    process_app.service.cache_clear()
    assert invoke(batch(range(40))) == {"batchItemFailures": []}
    writers = process_app.service().writers
    assert writers is not None
    # 40 records x 3 writes, in rounds of up to 8: far fewer calls than writes, none repeated alone
    assert writers.stats["statements"] == 120
    assert writers.stats["batches"] <= 40
    assert writers.stats["fallback"] == 0
    assert sorted(stored(consumer)) == sorted(f"r{i}" for i in range(40))
    assert {i["status"]["S"] for i in idempotency_items(consumer)} == {"COMPLETED"}
    # the same batch again: every write now meets an existing item and ends as the single call would
    assert invoke(batch(range(40))) == {"batchItemFailures": []}
    assert len(stored(consumer)) == 40
