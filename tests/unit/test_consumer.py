"""The process handler with real Kinesis events, against moto's DynamoDB and SQS (tables from template.yaml).

The sink is whatever ``weir.domain.make_sink`` makes, watched by a :class:`SinkSpy`: these tests hold
for any domain a fork puts in place (tests/unit/test_fork_guide.py runs them with the guide's, whose
sink is not idempotent by itself). They state what a user sees: each event stored once, whichever way
a copy comes back; the consumer's counts; nothing lost. Weir's own sink is tested in
tests/unit/test_sinks.py; Powertools' idempotency records, kept for a sink that is not idempotent
by itself, in tests/unit/test_exactly_once.py."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError
from moto import mock_aws

import functions.process.app as process_app
from tests.factories import envelope, envelope_bytes, kinesis_event, kinesis_record, load_event
from tests.fakes import FakeLambdaContext, logged_lines
from tests.stack import create_consumer_resources
from weir.consumer.sink import EventSink
from weir.kpl import UserRecord, aggregate
from weir.payloads import TypedEvent

EVENTS = "weir-test-events"
IDEMPOTENCY = "weir-test-idempotency"


class SinkSpy:
    """The domain's sink, watched: each ``store`` call and what it answered. ``fail`` (event -> an
    exception or None) makes a call raise before it reaches the sink, as a throttled sink would."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.answers: list[tuple[str, bool]] = []
        self.documents: dict[str, dict[str, Any]] = {}  # each event as the sink received it, by id
        self.positions: dict[str, Any] = {}  # where on the stream the consumer read each event
        self.fail: Callable[[dict[str, Any]], Exception | None] | None = None
        self.lock = threading.Lock()

    def wrap(self, sink: EventSink) -> EventSink:
        spy = self

        class Watched:
            idempotent = sink.idempotent

            def store(self, event: TypedEvent[Any]) -> bool:
                document = event.envelope.to_document()
                with spy.lock:
                    spy.calls.append(event.event_id)
                    spy.documents[event.event_id] = document
                    spy.positions[event.event_id] = event.position
                if spy.fail is not None and (error := spy.fail(document)) is not None:
                    raise error
                answer = sink.store(event)
                with spy.lock:
                    spy.answers.append((event.event_id, answer))
                return answer

            def probe(self) -> bool:
                return sink.probe()

        return Watched()

    def stored(self) -> list[str]:
        """The event ids the sink stored (answered True for), in order."""
        return [event_id for event_id, answer in self.answers if answer]


def throttling(event: dict[str, Any]) -> Exception:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutItem")


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> SinkSpy:
    from weir import domain

    spy = SinkSpy()
    make_sink = domain.make_sink
    monkeypatch.setattr(domain, "make_sink", lambda parts: spy.wrap(make_sink(parts)))
    return spy


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, sink: SinkSpy) -> Iterator[dict[str, Any]]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        sqs = boto3.client("sqs")
        environment = create_consumer_resources(dynamodb, sqs, EVENTS, IDEMPOTENCY, "weir-test-quarantine")
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        process_app.service.cache_clear()
        yield {"dynamodb": dynamodb, "sqs": sqs, "quarantine": environment["QUARANTINE_QUEUE_URL"], "sink": sink}
        process_app.service.cache_clear()


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return dict(process_app.lambda_handler(event, FakeLambdaContext(timeout_seconds=60)))


def stored(aws: dict[str, Any]) -> list[str]:
    """The event ids the domain's sink stored, in order (each appears once per store that took it)."""
    spy: SinkSpy = aws["sink"]
    return spy.stored()


def quarantined(aws: dict[str, Any]) -> list[dict[str, Any]]:
    messages = aws["sqs"].receive_message(QueueUrl=aws["quarantine"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def counted(capsys: pytest.CaptureFixture[str]) -> Counter[str]:
    """The consumer's counts in the metrics (EMF) its invocations printed since the last call."""
    totals: Counter[str] = Counter()
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for definition in blob["_aws"]["CloudWatchMetrics"]:
            for metric in definition["Metrics"]:
                value = blob[metric["Name"]]
                totals[metric["Name"]] += int(sum(value) if isinstance(value, list) else value)
    return totals


def test_a_batch_of_valid_events_is_stored_with_no_failures(aws: dict[str, Any]) -> None:
    event = kinesis_event(
        [(envelope_bytes(event_id=f"e-{i}", partition_key=f"k{i % 3}"), f"k{i % 3}") for i in range(10)]
    )
    assert invoke(event) == {"batchItemFailures": []}
    assert sorted(stored(aws)) == sorted(f"e-{i}" for i in range(10))  # each once


def test_the_canonical_generated_event_is_poison_and_is_quarantined(aws: dict[str, Any]) -> None:
    # GIVEN the event `sam local generate-event kinesis get-records` makes: plain text, not an envelope
    event = load_event("kinesis-get-records.json")
    # WHEN it is processed
    response = invoke(event)
    # THEN it does not block the shard: no failure reported, and the record is in the quarantine
    assert response == {"batchItemFailures": []}
    [message] = quarantined(aws)
    record = event["Records"][0]
    assert message["kind"] == "weir.quarantine"
    assert message["record"]["data"] == record["kinesis"]["data"]
    assert message["record"]["sequence_number"] == record["kinesis"]["sequenceNumber"]
    assert message["record"]["shard_id"] == "shardId-000000000000"
    assert message["record"]["partition_key"] == "partitionKey-03"
    assert message["record"]["approximate_arrival"] == "2015-04-09T00:00:00.000Z"
    assert "not JSON" in message["reason"]


def test_a_poison_record_in_the_middle_is_quarantined_and_the_rest_stored(aws: dict[str, Any]) -> None:
    items = [
        (envelope_bytes(event_id="a"), "k"),
        (json.dumps(envelope(occurred_at="yesterday")).encode(), "k"),
        (envelope_bytes(event_id="c"), "k"),
    ]
    assert invoke(kinesis_event(items)) == {"batchItemFailures": []}
    assert sorted(stored(aws)) == ["a", "c"]
    [message] = quarantined(aws)
    assert "occurred_at" in message["reason"]


# --- each way a copy comes back: stored once, counted once ------------------------------------


def test_the_same_batch_delivered_again_stores_nothing_twice_and_counts_duplicates(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    event = kinesis_event([(envelope_bytes(event_id=f"d-{i}"), "k") for i in range(5)])
    assert invoke(event) == {"batchItemFailures": []}
    assert counted(capsys)["EventsStored"] == 5
    assert invoke(event) == {"batchItemFailures": []}
    assert sorted(stored(aws)) == [f"d-{i}" for i in range(5)]
    second = counted(capsys)
    assert (second["EventsStored"], second["DuplicateEvents"]) == (0, 5)


def test_a_producer_retry_with_a_new_sequence_number_is_stored_once(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN one event written twice by a producer that retried after a lost answer: two records,
    # two sequence numbers, in one batch and again in the next
    data = envelope_bytes(event_id="retried", partition_key="k")
    first = kinesis_event([(data, "k"), (envelope_bytes(event_id="other", partition_key="j"), "j"), (data, "k")])
    later = kinesis_event([(data, "k")], first_sequence=int(first["Records"][-1]["kinesis"]["sequenceNumber"]) + 7)
    assert failures(invoke(first)) == []
    assert failures(invoke(later)) == []
    assert sorted(stored(aws)) == ["other", "retried"]
    counts = counted(capsys)
    assert (counts["EventsStored"], counts["DuplicateEvents"]) == (2, 2)


def test_a_copy_redriven_later_or_read_from_a_child_shard_is_stored_once(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    data = envelope_bytes(event_id="moved", partition_key="k")
    assert failures(invoke(kinesis_event([(data, "k")]))) == []
    # a redriven copy: re-put days later (a new sequence number, a later arrival); and the copy a
    # child shard holds after a split (another shard's record)
    redriven = kinesis_record(data, "k", sequence=10**55)
    redriven["kinesis"]["approximateArrivalTimestamp"] += 3 * 86_400
    child = kinesis_record(data, "k", sequence=10**55 + 1, shard="shardId-000000000002")
    for copy in (redriven, child):
        assert failures(invoke({"Records": [copy]})) == []
    assert stored(aws) == ["moved"]
    counts = counted(capsys)
    assert (counts["EventsStored"], counts["DuplicateEvents"]) == (1, 2)


def test_a_throttled_sink_then_a_retry_stores_the_event_once_and_counts_it_once(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    aws["sink"].fail = lambda event: throttling(event) if event["event_id"] == "slow" else None
    event = kinesis_event(
        [
            (envelope_bytes(event_id="slow", partition_key="k"), "k"),
            (envelope_bytes(event_id="fine", partition_key="j"), "j"),
        ]
    )
    assert failures(invoke(event)) == [event["Records"][0]["kinesis"]["sequenceNumber"]]
    aws["sink"].fail = None
    # Lambda delivers the batch again from the failed record
    assert failures(invoke(event)) == []
    assert sorted(stored(aws)) == ["fine", "slow"]
    counts = counted(capsys)
    assert (counts["EventsStored"], counts["DuplicateEvents"], counts["RecordsFailed"]) == (2, 1, 1)


def test_a_poison_record_delivered_again_is_quarantined_once(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN poison behind an event whose sink write fails: Lambda delivers both again from the event
    aws["sink"].fail = lambda event: throttling(event) if event["event_id"] == "first" else None
    event = kinesis_event([(envelope_bytes(event_id="first", partition_key="a"), "a"), (b"\x00 not json", "b")])
    assert failures(invoke(event)) == [event["Records"][0]["kinesis"]["sequenceNumber"]]
    aws["sink"].fail = None
    assert failures(invoke(event)) == []
    # THEN one quarantine message, counted once; the redelivery counted as such
    assert len(quarantined(aws)) == 1
    counts = counted(capsys)
    assert (counts["RecordsQuarantined"], counts["PoisonRedelivered"]) == (1, 1)


def test_when_every_record_fails_the_batch_raises_so_the_mapping_bisects_it(aws: dict[str, Any]) -> None:
    # The documented choice: Powertools raises BatchProcessingError; with BisectBatchOnFunctionError
    # Lambda splits the batch and retries the halves without using up MaximumRetryAttempts.
    aws["sink"].fail = lambda event: ClientError(
        {"Error": {"Code": "ResourceNotFoundException", "Message": "no such table"}}, "PutItem"
    )
    with pytest.raises(BatchProcessingError, match="All records failed"):
        invoke(kinesis_event([(envelope_bytes(event_id=f"x-{i}", partition_key=f"k{i}"), f"k{i}") for i in range(3)]))


def test_a_batch_of_one_key_whose_first_record_fails_answers_that_record_without_failing(aws: dict[str, Any]) -> None:
    # GIVEN a batch of one partition key whose first event the sink refuses
    aws["sink"].fail = lambda event: throttling(event) if event["event_id"] == "y-0" else None
    event = kinesis_event([(envelope_bytes(event_id=f"y-{i}", partition_key="k"), "k") for i in range(3)])
    # WHEN it is processed
    response = invoke(event)
    # THEN the invocation succeeds with that record reported (Lambda retries from it), and the later
    # events of the key wait for it: none is stored before it
    assert failures(response) == [event["Records"][0]["kinesis"]["sequenceNumber"]]
    assert stored(aws) == []


def test_a_failed_record_is_logged_with_its_event_id_and_its_ingest_trace_id(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    aws["sink"].fail = lambda event: throttling(event) if event["event_id"] == "unlucky" else None
    records = [("fine", "a"), ("unlucky", "b")]
    trace = "1-5759e988-bd862e3fe1be46a994272793"
    event = kinesis_event([(envelope_bytes(event_id=e, partition_key=k, trace_id=trace), k) for e, k in records])
    with logged_lines() as lines:
        response = invoke(event)
    assert failures(response) == [event["Records"][1]["kinesis"]["sequenceNumber"]]
    (failed,) = [line for line in lines if line.get("message", "").startswith("record failed")]
    assert (failed["event_id"], failed["trace_id"]) == ("unlucky", trace)
    assert "ThrottlingException" in failed["error"]
    assert failed["level"] == "WARNING"


def test_a_poison_record_at_the_stream_s_maximum_size_is_quarantined_through_s3(aws: dict[str, Any]) -> None:
    # GIVEN a poison record of exactly the stream's default maximum (1 MiB of data plus its key):
    # base64 and metadata make its quarantine message larger than SQS's 1,048,576 bytes
    key = "k"
    data = b"x" * (1024 * 1024 - len(key))
    event = kinesis_event([(data, key)])
    # WHEN it is processed
    response = invoke(event)
    # THEN it does not fail the batch; the queue holds a pointer with the reason, S3 the whole message
    assert response == {"batchItemFailures": []}
    [pointer] = quarantined(aws)
    assert pointer["kind"] == "weir.s3-pointer"
    assert pointer["summary"]["kind"] == "weir.quarantine"
    assert "reason" in pointer["summary"]
    assert pointer["summary"]["record"]["sequence_number"] == event["Records"][0]["kinesis"]["sequenceNumber"]
    assert pointer["key"].startswith("quarantine/")
    s3 = boto3.client("s3")
    body = s3.get_object(Bucket=pointer["bucket"], Key=pointer["key"])["Body"].read()
    assert pointer["bytes"] == len(body) > 1024 * 1024
    assert json.loads(body)["record"]["data"] == event["Records"][0]["kinesis"]["data"]


def test_a_sink_that_keeps_throttling_opens_the_breaker_and_later_batches_are_held_not_failed_at_once(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from weir.breaker.state import State

    monkeypatch.setenv("BREAKER_FAILURE_THRESHOLD", "3")
    monkeypatch.setenv("BREAKER_OPEN_SECONDS", "0")
    monkeypatch.setenv("BREAKER_PROBE_INTERVAL_SECONDS", "0.2")
    process_app.service.cache_clear()
    calls = aws["sink"].calls
    aws["sink"].fail = throttling
    first = kinesis_event([(envelope_bytes(event_id=f"a-{i}", partition_key=f"k{i}"), f"k{i}") for i in range(3)])
    with pytest.raises(BatchProcessingError):
        invoke(first)  # three transient sink failures: the threshold
    breaker = process_app.service().breaker
    assert breaker is not None
    assert breaker.status(fresh=True).state is State.OPEN

    # The sink is still down (its probe fails): the next batch is held while time allows, the sink
    # is never written, and the whole batch is reported failed from its first record.
    breaker.probe = lambda: False
    calls.clear()
    second = kinesis_event([(envelope_bytes(event_id=f"b-{i}", partition_key=f"k{i}"), f"k{i}") for i in range(3)])
    started = time.monotonic()
    response = dict(process_app.lambda_handler(second, FakeLambdaContext(timeout_seconds=2)))
    assert failures(response) == [second["Records"][0]["kinesis"]["sequenceNumber"]]
    assert calls == []
    assert 1.0 <= time.monotonic() - started <= 2.0  # held about three quarters of the time it had

    # The sink answers again: the probe half-opens the breaker, the batch is stored, the breaker closes.
    breaker.probe = lambda: True
    aws["sink"].fail = None
    assert failures(invoke(second)) == []
    assert {"b-0", "b-1", "b-2"} <= set(stored(aws))
    assert breaker.status(fresh=True).state is State.CLOSED


# --- the KPL's aggregated records (weir/kpl.py), mixed with plain ones: the user record is the unit of
# storing, quarantine and counting; a failure makes Lambda deliver the aggregate again, and nothing it held
# is stored twice ------------------------------------------------------------------------------------------

HASH_KEY = "1" * 38  # inside the first shard's range: an explicit hash key, as Weir's producer sets one


def packed(*events: tuple[str, str] | bytes) -> bytes:
    """An aggregated record of envelopes ``(event_id, partition_key)`` (or raw user data)."""
    records = [
        UserRecord("raw", item, HASH_KEY)
        if isinstance(item, bytes)
        else UserRecord(item[1], envelope_bytes(event_id=item[0], partition_key=item[1]), HASH_KEY)
        for item in events
    ]
    return aggregate(records)


def test_an_aggregate_and_plain_records_in_one_batch_are_each_stored_once(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    event = kinesis_event(
        [
            (envelope_bytes(event_id="plain-1", partition_key="p"), "p"),
            (packed(("a-1", "k1"), ("a-2", "k2"), ("a-3", "k1")), "k1"),
            (envelope_bytes(event_id="plain-2", partition_key="p"), "p"),
        ]
    )
    assert invoke(event) == {"batchItemFailures": []}
    assert sorted(stored(aws)) == ["a-1", "a-2", "a-3", "plain-1", "plain-2"]
    counts = counted(capsys)
    assert (counts["EventsStored"], counts["DuplicateEvents"]) == (5, 0)


def test_the_order_of_each_key_inside_and_across_aggregates_holds(aws: dict[str, Any]) -> None:
    event = kinesis_event(
        [
            (packed(("k-1", "k"), ("j-1", "j"), ("k-2", "k")), "k"),
            (packed(("j-2", "j"), ("k-3", "k")), "j"),
        ]
    )
    assert invoke(event) == {"batchItemFailures": []}
    order = stored(aws)
    assert [e for e in order if e.startswith("k-")] == ["k-1", "k-2", "k-3"]
    assert [e for e in order if e.startswith("j-")] == ["j-1", "j-2"]


def test_a_poison_user_record_is_quarantined_alone_and_its_siblings_stored(aws: dict[str, Any]) -> None:
    bad = json.dumps(envelope(occurred_at="yesterday")).encode()
    event = kinesis_event([(packed(("s-1", "k"), bad, ("s-2", "j")), "k")])
    assert invoke(event) == {"batchItemFailures": []}
    assert sorted(stored(aws)) == ["s-1", "s-2"]
    [message] = quarantined(aws)
    assert "occurred_at" in message["reason"]
    # delivered again, the poison is not quarantined twice
    assert invoke(event) == {"batchItemFailures": []}
    assert quarantined(aws) == []


def test_a_failed_user_record_names_its_aggregate_and_the_redelivery_stores_nothing_twice(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a plain record, then an aggregate one of whose user records the sink refuses for now
    event = kinesis_event(
        [
            (envelope_bytes(event_id="before", partition_key="p"), "p"),
            (packed(("x-1", "a"), ("x-slow", "b"), ("x-3", "c")), "a"),
            (envelope_bytes(event_id="after", partition_key="q"), "q"),
        ]
    )
    aws["sink"].fail = lambda e: throttling(e) if e["event_id"] == "x-slow" else None
    # THEN the response names the aggregate's sequence number once: Lambda retries from there
    aggregate_sequence = event["Records"][1]["kinesis"]["sequenceNumber"]
    assert failures(invoke(event)) == [aggregate_sequence]
    # WHEN Lambda delivers the aggregate and what follows again
    aws["sink"].fail = None
    again = {"Records": event["Records"][1:]}
    assert failures(invoke(again)) == []
    # THEN every event is stored once; the siblings stored the first time are counted as duplicates
    assert sorted(stored(aws)) == ["after", "before", "x-1", "x-3", "x-slow"]
    counts = counted(capsys)
    assert (counts["EventsStored"], counts["DuplicateEvents"]) == (5, 3)


def test_an_aggregate_that_cannot_be_read_is_quarantined_whole_with_its_reason(aws: dict[str, Any]) -> None:
    damaged = bytearray(packed(("d-1", "k"), ("d-2", "k")))
    damaged[-1] ^= 0xFF  # its MD5 no longer matches
    event = kinesis_event([(bytes(damaged), "k"), (envelope_bytes(event_id="fine", partition_key="j"), "j")])
    assert invoke(event) == {"batchItemFailures": []}
    assert stored(aws) == ["fine"]
    [message] = quarantined(aws)
    assert "MD5" in message["reason"]
    assert "aggregated record" in message["reason"]


def test_an_aggregate_written_by_the_awslabs_library_is_stored_event_by_event(aws: dict[str, Any]) -> None:
    # GIVEN an aggregated record written by aws-kinesis-agg (a producer that is not Weir's)
    from aws_kinesis_agg.aggregator import RecordAggregator

    builder = RecordAggregator()
    for i in range(6):
        builder.add_user_record(f"key-{i % 2}", envelope_bytes(event_id=f"lib-{i}", partition_key=f"key-{i % 2}"))
    partition_key, _, data = builder.clear_and_get().get_contents()
    # THEN each of its events is stored once
    assert invoke(kinesis_event([(bytes(data), partition_key)])) == {"batchItemFailures": []}
    assert sorted(stored(aws)) == [f"lib-{i}" for i in range(6)]


# --- a new envelope field, and the latency from the API to the sink --------------------------------------


def test_an_envelope_field_this_version_does_not_know_is_stored_not_quarantined(aws: dict[str, Any]) -> None:
    # GIVEN an event from a newer writer, with a field this consumer has never heard of, and an older one
    newer = envelope(event_id="newer", partition_key="n") | {"trace_context": "00-abc-def-01"}
    older = envelope(event_id="older", partition_key="o")  # no accepted_at: written before the stamp
    event = kinesis_event([(json.dumps(newer).encode(), "n"), (json.dumps(older).encode(), "o")])
    # THEN both are stored, none quarantined, and the unknown field reaches the sink
    assert invoke(event) == {"batchItemFailures": []}
    assert sorted(stored(aws)) == ["newer", "older"]
    assert quarantined(aws) == []
    assert aws["sink"].documents["newer"]["trace_context"] == "00-abc-def-01"


def test_the_latency_from_the_api_to_the_sink_is_one_value_per_newly_stored_event(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    accepted = (datetime.now(UTC) - timedelta(seconds=2)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    items = [
        (json.dumps(envelope(event_id=f"l-{i}", partition_key="k") | {"accepted_at": accepted}).encode(), "k")
        for i in range(3)
    ]
    assert invoke(kinesis_event(items)) == {"batchItemFailures": []}
    first = latencies(capsys)
    assert len(first) == 3
    assert all(2000 <= value < 60_000 for value in first)
    # a copy delivered again is not a new store: no latency for it
    assert invoke(kinesis_event(items)) == {"batchItemFailures": []}
    assert latencies(capsys) == []


def latencies(capsys: pytest.CaptureFixture[str]) -> list[float]:
    """The IngestToStoreLatency values in the metrics (EMF) printed since the last call."""
    found: list[float] = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and '"IngestToStoreLatency"' in line:
            value = json.loads(line)["IngestToStoreLatency"]
            found += value if isinstance(value, list) else [value]
    return found


def test_an_event_put_on_the_stream_again_is_timed_apart_from_the_live_ones(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an event the API wrote a moment ago, and one accepted an hour ago that a redrive put back
    now = datetime.now(UTC)
    live = envelope(event_id="live", partition_key="a") | {"accepted_at": iso(now - timedelta(seconds=1))}
    redriven = envelope(event_id="back", partition_key="b") | {
        "accepted_at": iso(now - timedelta(hours=1)),
        "origin": "redrive",
    }
    event = kinesis_event([(json.dumps(live).encode(), "a"), (json.dumps(redriven).encode(), "b")])
    assert invoke(event) == {"batchItemFailures": []}
    # THEN the live figure holds only the live event: the hour waited in the failure destination is
    # the redriven event's own figure
    out = capsys.readouterr().out
    assert [1000 <= v < 60_000 for v in metric_values(out, "IngestToStoreLatency")] == [True]
    assert [v >= 3_600_000 for v in metric_values(out, "RedrivenIngestToStoreLatency")] == [True]
    # AND both reach the sink, each with where the consumer read it and where the event came from
    assert sorted(stored(aws)) == ["back", "live"]
    spy: SinkSpy = aws["sink"]
    for record, event_id in zip(event["Records"], ["live", "back"], strict=True):
        position = spy.positions[event_id]
        assert position.shard_id == record["eventID"].split(":", 1)[0]
        assert position.sequence_number == record["kinesis"]["sequenceNumber"]
        assert position.sub_sequence_number is None
    assert "origin" not in spy.documents["live"]
    assert spy.documents["back"]["origin"] == "redrive"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def metric_values(out: str, name: str) -> list[float]:
    found: list[float] = []
    for line in out.splitlines():
        if line.startswith("{") and f'"{name}"' in line:
            value = json.loads(line)[name]
            found += value if isinstance(value, list) else [value]
    return found
