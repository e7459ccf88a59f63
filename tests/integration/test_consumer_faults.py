"""The process handler against the local endpoint (dynalite behind the gateway) with DynamoDB faults,
and two lanes racing on the same events."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

import functions.process.app as process_app
from tests.endpoint import LocalEndpoint
from tests.factories import envelope_bytes, kinesis_event
from tests.fakes import FakeLambdaContext
from tests.stack import create_consumer_resources
from weir import domain
from weir.coalesce import CoalescingDynamoDB
from weir.config import ConsumerConfig
from weir.consumer import wiring

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


def batch(ids: range) -> dict[str, Any]:
    # one key per event: a failure affects only its own record
    return kinesis_event([(envelope_bytes(event_id=f"r{i}", partition_key=f"k{i}"), f"k{i}") for i in ids])


def throttle_sink_once(local_aws: LocalEndpoint, table: str) -> str:
    # One record's writes: the three attempts (DYNAMODB_MAX_ATTEMPTS) of its single call (one key
    # thread writes directly), and the next record's first attempt, which botocore retries.
    return local_aws.add_fault(
        service="dynamodb",
        operation="PutItem",
        error="ProvisionedThroughputExceededException",
        status=400,
        match={"TableName": table},
        count=4,
    )


def test_a_throttled_sink_reports_the_record_and_leaves_nothing_half_written(
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
    # AND when Lambda delivers it again it is stored
    assert invoke(batch(range(1))) == {"batchItemFailures": []}
    assert sorted(stored(consumer)) == ["r0", "r1", "r2", "r3"]


def test_overlapping_batches_after_a_partial_checkpoint_write_each_event_once(
    local_aws: LocalEndpoint, consumer: dict[str, Any]
) -> None:
    # GIVEN r0 and r1 already processed, then r2 and r3, and a batch r2..r5 whose r2 write is
    # throttled: r3 is already there, r4 and r5 are written
    events = [f"r{i}" for i in range(8)]
    invoke(batch(range(2)))
    invoke(batch(range(3, 4)))
    throttle_sink_once(local_aws, consumer["events"])
    first_batch = batch(range(2, 6))
    response = invoke(first_batch)
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert failed == [first_batch["Records"][0]["kinesis"]["sequenceNumber"]]
    before = stored(consumer)
    assert sorted(before) == ["r0", "r1", "r3", "r4", "r5"]
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
    assert isinstance(writers, CoalescingDynamoDB)
    # 40 records, one write each, in rounds of up to 8: far fewer calls than writes, none repeated alone
    assert writers.stats["statements"] == 40
    assert writers.stats["batches"] <= 40 // 4
    assert writers.stats["fallback"] == 0
    assert sorted(stored(consumer)) == sorted(f"r{i}" for i in range(40))
    # the same batch again: every write meets an existing item and ends as the single call would,
    # without making it
    before = stored(consumer)
    assert invoke(batch(range(40))) == {"batchItemFailures": []}
    assert stored(consumer) == before
    assert writers.stats["fallback"] == 0


def test_two_lanes_racing_on_the_same_events_store_each_once_and_lose_nothing(consumer: dict[str, Any]) -> None:
    # GIVEN the same events in two batches delivered at the same moment to two execution
    # environments (two lanes of a ParallelizationFactor, or a parent shard's and a child's copy),
    # each with the default key threads
    environment = {**os.environ, "CONSUMER_KEY_CONCURRENCY": "32"}
    config = ConsumerConfig.from_env(environment)
    lanes = [wiring.build(config, domain.EVENT_TYPES, domain.make_sink, environment) for _ in range(2)]
    data = [envelope_bytes(event_id=f"race-{i}", partition_key=f"k{i}") for i in range(24)]
    batches = [kinesis_event([(d, f"k{i}") for i, d in enumerate(data)], first_sequence=s) for s in (10**54, 10**55)]
    start = threading.Barrier(2)
    left: dict[int, set[str]] = {}

    def lane(n: int) -> None:
        event = batches[n]
        start.wait()
        for _ in range(5):  # Lambda delivers a reported record again
            answer = lanes[n].handle_batch(event, FakeLambdaContext(timeout_seconds=60))
            left[n] = {str(f["itemIdentifier"]) for f in answer["batchItemFailures"]}
            if not left[n]:
                return
            event = {"Records": [r for r in event["Records"] if r["kinesis"]["sequenceNumber"] in left[n]]}

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # THEN nothing is left failing, and each event is one item, stored once
    assert left == {0: set(), 1: set()}
    items = consumer["dynamodb"].scan(TableName=consumer["events"])["Items"]
    assert sorted(i["event_id"]["S"] for i in items) == sorted(f"race-{i}" for i in range(24))
