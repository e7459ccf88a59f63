"""Properties of the batch processor with fakes: no record ends nowhere, and keys keep their order."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import envelope_bytes, kinesis_event
from weir import domain
from weir.consumer.batch import KeyOrderedBatchProcessor
from weir.consumer.processor import EventProcessor
from weir.payloads import TypedEvent


class Throttled(Exception):
    """Stands in for a transient DynamoDB error."""


class FakeSink:
    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.stored: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def store(self, typed: TypedEvent[Any]) -> bool:
        event = typed.envelope.to_document()
        if event["event_id"] in self.failing:
            raise Throttled(event["event_id"])
        with self.lock:
            self.stored.append(event)
        return True


class FakeQuarantine:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def __call__(self, record: str, body: str) -> bool:
        self.bodies.append(body)
        return True


def run(event: dict[str, Any], sink: FakeSink, quarantine: FakeQuarantine, workers: int) -> dict[str, Any]:
    processor = EventProcessor(domain.EVENT_TYPES, quarantine, sink.store)
    batch = KeyOrderedBatchProcessor(workers)
    return dict(process_partial_response(event=event, record_handler=processor.handle, processor=batch))


record_spec = st.tuples(
    st.integers(min_value=0, max_value=5),  # partition key
    st.sampled_from(["ok", "ok", "ok", "poison", "transient"]),
)


@settings(max_examples=150, deadline=None)
@given(specs=st.lists(record_spec, min_size=1, max_size=60), workers=st.sampled_from([1, 4, 16]))
def test_every_record_ends_in_the_sink_the_quarantine_or_batch_item_failures(
    specs: list[tuple[int, str]], workers: int
) -> None:
    items, failing = [], set()
    for i, (key, kind) in enumerate(specs):
        data = b"\x00not json" if kind == "poison" else envelope_bytes(event_id=f"e{i}", partition_key=f"k{key}")
        if kind == "transient":
            failing.add(f"e{i}")
        items.append((data, f"k{key}"))
    event = kinesis_event(items)
    sink, quarantine = FakeSink(failing), FakeQuarantine()
    try:
        response = run(event, sink, quarantine, workers)
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    except BatchProcessingError:
        failed = {r["kinesis"]["sequenceNumber"] for r in event["Records"]}  # the whole batch is retried
    stored = {e["event_id"] for e in sink.stored}
    quarantined = {json.loads(b)["record"]["sequence_number"] for b in quarantine.bodies}
    # Lambda checkpoints before the lowest sequence number reported and delivers the rest again
    lowest = min((int(s) for s in failed), default=None)
    for i, record in enumerate(event["Records"]):
        sequence = record["kinesis"]["sequenceNumber"]
        delivered_again = lowest is not None and int(sequence) >= lowest
        # never nowhere
        assert f"e{i}" in stored or sequence in quarantined or delivered_again, (i, specs[i])
        # never a transient failure passed off as done
        if f"e{i}" in failing:
            assert delivered_again
    # a key's events reach the sink in stream order, and none after the key's first failure
    for key_name in {f"k{k}" for k, _ in specs}:
        order = [int(e["event_id"][1:]) for e in sink.stored if e["partition_key"] == key_name]
        assert order == sorted(order)
        first_failure = min(
            (i for i, (k, kind) in enumerate(specs) if f"k{k}" == key_name and kind == "transient"), default=None
        )
        if first_failure is not None:
            assert all(i < first_failure for i in order)


def test_the_failure_report_is_exactly_the_failed_record_and_the_rest_of_its_key_waits() -> None:
    # GIVEN records of keys a and b, and a transient failure on the second record of key a
    items = [
        (envelope_bytes(event_id="a1", partition_key="a"), "a"),
        (envelope_bytes(event_id="b1", partition_key="b"), "b"),
        (envelope_bytes(event_id="a2", partition_key="a"), "a"),
        (envelope_bytes(event_id="b2", partition_key="b"), "b"),
        (envelope_bytes(event_id="a3", partition_key="a"), "a"),
    ]
    event = kinesis_event(items)
    sequence = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    sink = FakeSink({"a2"})
    # WHEN the batch is processed
    response = run(event, sink, FakeQuarantine(), workers=4)
    # THEN a2 is reported; a3 is not tried (it comes after a2, so Lambda delivers it again with a2);
    # b's records and a1 are stored
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence[2]}]}
    assert sorted(e["event_id"] for e in sink.stored) == ["a1", "b1", "b2"]


def test_keys_really_run_concurrently() -> None:
    # Two keys whose first records wait for each other can only finish if they run at the same time.
    barrier = threading.Barrier(2, timeout=5)

    class Rendezvous(FakeSink):
        def store(self, typed: TypedEvent[Any]) -> bool:
            barrier.wait()
            return super().store(typed)

    items = [
        (envelope_bytes(event_id="x", partition_key="x"), "x"),
        (envelope_bytes(event_id="y", partition_key="y"), "y"),
    ]
    sink = Rendezvous(set())
    assert run(kinesis_event(items), sink, FakeQuarantine(), workers=2) == {"batchItemFailures": []}


def test_a_quarantine_that_fails_makes_the_record_retry_rather_than_vanish() -> None:
    class Broken(FakeQuarantine):
        def __call__(self, record: str, body: str) -> bool:
            raise Throttled("quarantine down")

    event = kinesis_event([(b"garbage", "k"), (envelope_bytes(event_id="fine", partition_key="j"), "j")])
    sink = FakeSink(set())
    response = run(event, sink, Broken(), workers=2)
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["kinesis"]["sequenceNumber"]}]}


@pytest.mark.parametrize("workers", [1, 8])
def test_results_do_not_depend_on_thread_scheduling(workers: int) -> None:
    rng = random.Random(5)
    items = [(envelope_bytes(event_id=f"r{i}", partition_key=f"k{i % 4}"), f"k{i % 4}") for i in range(40)]
    failing = {f"r{i}" for i in rng.sample(range(40), 5)}
    event = kinesis_event(items)
    first = run(event, FakeSink(failing), FakeQuarantine(), workers)
    second = run(event, FakeSink(failing), FakeQuarantine(), 1)
    assert first == second


def test_one_thread_pool_serves_every_batch_of_an_execution_environment() -> None:
    """The processor is built once per execution environment: its key threads are made once, not
    once per batch."""
    names: set[str] = set()
    sink, quarantine = FakeSink(set()), FakeQuarantine()

    def store(event: TypedEvent[Any]) -> bool:
        names.add(threading.current_thread().name)
        return sink.store(event)

    processor = EventProcessor(domain.EVENT_TYPES, quarantine, store)
    batch = KeyOrderedBatchProcessor(4)
    for round_ in range(5):
        event = kinesis_event(
            [(envelope_bytes(event_id=f"r{round_}-{i}", partition_key=f"k{i}"), f"k{i}") for i in range(8)]
        )
        assert process_partial_response(event=event, record_handler=processor.handle, processor=batch) == {
            "batchItemFailures": []
        }
    assert len(names) <= 4
    assert all(name.startswith("key") for name in names)
