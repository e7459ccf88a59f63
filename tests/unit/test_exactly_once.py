"""Exactly once, by each kind of sink, through the process handler (moto's DynamoDB and SQS).

Weir's own sink is idempotent by itself (its put keeps the first copy of an event_id), so the
consumer keeps no idempotency record for it: a write whose answer was lost, then delivered again,
still leaves one item. A sink that is not idempotent by itself (a fork's that sends a message, say)
is called inside Powertools idempotency: its side effect happens once however often its event
comes back, and a copy is counted as a duplicate. What Powertools' records cannot cover (the side
effect done, the process gone before the record is completed) is docs/consumer.md's to say.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from moto import mock_aws

import functions.process.app as process_app
from tests.factories import envelope_bytes, kinesis_event, kinesis_record
from tests.fakes import FakeLambdaContext
from tests.stack import create_consumer_resources
from tests.unit.test_consumer import counted, failures
from weir import domain
from weir.consumer.dynamodb_sink import DynamoDBEventSink
from weir.consumer.sink import EventSink, SinkParts
from weir.payloads import TypedEvent

EVENTS = "weir-test-events"
IDEMPOTENCY = "weir-test-idempotency"


class SideEffectSink:
    """Not idempotent by itself: every call sends (here, appends) the event once more."""

    idempotent = False

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def store(self, event: TypedEvent[Any]) -> bool:
        with self.lock:
            self.sent.append(event.event_id)
        return True

    def probe(self) -> bool:
        return True


@pytest.fixture
def side_effects(monkeypatch: pytest.MonkeyPatch) -> SideEffectSink:
    sink = SideEffectSink()
    monkeypatch.setattr(domain, "make_sink", lambda parts: sink)
    return sink


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        environment = create_consumer_resources(dynamodb, boto3.client("sqs"), EVENTS, IDEMPOTENCY, "weir-test-q")
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        process_app.service.cache_clear()
        yield {"dynamodb": dynamodb}
        process_app.service.cache_clear()


def invoke(event: dict[str, Any], timeout_seconds: float = 60) -> dict[str, Any]:
    return dict(process_app.lambda_handler(event, FakeLambdaContext(timeout_seconds=timeout_seconds)))


def items(aws: dict[str, Any], table: str) -> list[dict[str, Any]]:
    return list(aws["dynamodb"].scan(TableName=table)["Items"])


# --- Weir's own sink -----------------------------------------------------------------------------


def test_a_write_whose_answer_was_lost_is_stored_once_when_delivered_again(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN Weir's own sink (whatever the domain's is), whose first write of "lost" lands but whose
    # answer never comes back
    lost_once = {"lost"}

    class Losing(DynamoDBEventSink):
        def store(self, event: TypedEvent[Any]) -> bool:
            answer = super().store(event)
            if event.event_id in lost_once:
                lost_once.discard(event.event_id)
                raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
            return answer

    def losing(parts: SinkParts) -> EventSink:
        return Losing(parts.dynamodb(coalesce={EVENTS: DynamoDBEventSink.KEY}), EVENTS)

    monkeypatch.setattr(domain, "make_sink", losing)
    event = kinesis_event(
        [(envelope_bytes(event_id="lost", partition_key="k"), "k"), (envelope_bytes(event_id="x"), "j")]
    )
    # WHEN the record is reported for a retry and Lambda delivers it again
    assert failures(invoke(event)) == [event["Records"][0]["kinesis"]["sequenceNumber"]]
    assert failures(invoke(event)) == []
    # THEN one item each, and no idempotency record was needed for it
    assert sorted(i["event_id"]["S"] for i in items(aws, EVENTS)) == ["lost", "x"]
    assert items(aws, IDEMPOTENCY) == []
    counts = counted(capsys)
    # the lost answer's store is seen as a duplicate: the consumer never learned it had stored it
    assert (counts["EventsStored"], counts["DuplicateEvents"]) == (1, 2)


# --- a sink that is not idempotent by itself ------------------------------------------------


def test_a_side_effect_happens_once_whichever_way_its_event_comes_back(
    aws: dict[str, Any], side_effects: SideEffectSink, capsys: pytest.CaptureFixture[str]
) -> None:
    data = envelope_bytes(event_id="order-1", partition_key="k")
    batch = kinesis_event([(data, "k"), (envelope_bytes(event_id="order-2", partition_key="j"), "j")])
    assert failures(invoke(batch)) == []
    # the same batch again, a producer's retry (a new sequence number), a copy on a child shard
    assert failures(invoke(batch)) == []
    assert failures(invoke({"Records": [kinesis_record(data, "k", sequence=10**55)]})) == []
    assert failures(invoke({"Records": [kinesis_record(data, "k", 10**55 + 1, "shardId-000000000002")]})) == []
    assert sorted(side_effects.sent) == ["order-1", "order-2"]
    counts = counted(capsys)
    assert (counts["EventsStored"], counts["DuplicateEvents"]) == (2, 4)


def test_a_side_effect_that_failed_is_tried_again(
    aws: dict[str, Any], side_effects: SideEffectSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = {"o"}
    send = side_effects.store

    def flaky(event: TypedEvent[Any]) -> bool:
        if event.event_id in failing:
            failing.discard(event.event_id)
            raise ReadTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com")
        return send(event)

    monkeypatch.setattr(side_effects, "store", flaky)
    batch = kinesis_event([(envelope_bytes(event_id="o", partition_key="k"), "k"), (envelope_bytes(event_id="p"), "j")])
    assert failures(invoke(batch)) == [batch["Records"][0]["kinesis"]["sequenceNumber"]]
    # Powertools removed its record on the failure: the retry calls the sink again
    assert failures(invoke(batch)) == []
    assert sorted(side_effects.sent) == ["o", "p"]


def test_idempotency_records_are_kept_for_the_sink_and_expire(
    aws: dict[str, Any], side_effects: SideEffectSink
) -> None:
    invoke(kinesis_event([(envelope_bytes(event_id="ttl-1"), "k")]))
    [item] = items(aws, IDEMPOTENCY)
    assert item["id"]["S"].startswith("weir.consumer.store#")
    assert item["status"]["S"] == "COMPLETED"
    ttl = int(item["expiration"]["N"])
    assert ttl - time.time() == pytest.approx(691200, abs=120)  # the template's IdempotencyTtlSeconds


def _in_progress(aws: dict[str, Any], event_id: str, expires_in_ms: int) -> None:
    """An IN_PROGRESS record as a timed-out invocation leaves it."""
    digest = hashlib.md5(json.dumps(event_id).encode(), usedforsecurity=False).hexdigest()
    aws["dynamodb"].put_item(
        TableName=IDEMPOTENCY,
        Item={
            "id": {"S": f"weir.consumer.store#{digest}"},
            "status": {"S": "INPROGRESS"},
            "expiration": {"N": str(int(time.time()) + 3600)},
            "in_progress_expiration": {"N": str(int(time.time() * 1000) + expires_in_ms)},
        },
    )


def test_an_in_progress_record_left_by_a_timed_out_invocation_does_not_block_the_event(
    aws: dict[str, Any], side_effects: SideEffectSink
) -> None:
    # GIVEN an IN_PROGRESS record whose invocation's time ran out a second ago
    _in_progress(aws, "stuck", expires_in_ms=-1000)
    # WHEN the event is delivered again THEN it is processed
    assert invoke(kinesis_event([(envelope_bytes(event_id="stuck"), "k")])) == {"batchItemFailures": []}
    assert side_effects.sent == ["stuck"]


def test_an_in_progress_record_of_a_live_invocation_makes_the_record_retry(
    aws: dict[str, Any], side_effects: SideEffectSink
) -> None:
    _in_progress(aws, "busy", expires_in_ms=60_000)
    event = kinesis_event([(envelope_bytes(event_id="busy"), "k"), (envelope_bytes(event_id="free"), "j")])
    response = invoke(event)
    assert failures(response) == [event["Records"][0]["kinesis"]["sequenceNumber"]]
    assert side_effects.sent == ["free"]


def test_the_idempotency_records_are_configured_before_any_key_thread_calls_them(
    aws: dict[str, Any], side_effects: SideEffectSink
) -> None:
    """Powertools' configure() marks a layer configured before it sets the key and the expiry; the
    first calls of 32 key threads at once could use a half-set layer. Configured up front, there is
    nothing left for them to race on."""
    from weir.consumer.idempotency import Once, persistence_layer

    layer = persistence_layer("idempotency", object())
    once = Once(side_effects.store, layer, "weir.test", 7200)
    assert layer.configured
    assert layer.event_key_jmespath == "key"
    assert layer.event_key_compiled_jmespath is not None
    assert layer.expires_after_seconds == 7200 == once.config.expires_after_seconds
    assert layer.raise_on_no_idempotency_key is True
    assert layer.function_name == "weir.test"
