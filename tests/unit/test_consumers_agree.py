"""The two consumers agree: the aggregates count, per type, exactly the distinct events the process
consumer stored — whatever comes twice (a producer's retry, a redriven copy, a retried batch, a lost
answer), whatever is poison (not an envelope, a type the stream does not take, a payload that does
not fit) and whatever the sink refuses for a while. The aggregates read what the events table's
stream holds: one change record per item the sink created, none for a copy it refused."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from tests.factories import kinesis_record
from tests.unit.test_aggregates import WINDOW, FakeStore
from weir.aggregates.service import AggregatesService
from weir.consumer.batch import KeyOrderedBatchProcessor
from weir.consumer.processor import EventProcessor
from weir.payloads import EventTypes, TypedEvent


class Placed(BaseModel):
    amount: int = Field(ge=0)


class Paid(BaseModel):
    amount: int = Field(ge=0)
    method: str


TYPES = EventTypes({"order.placed": Placed, "order.paid": Paid})
PAYLOADS = {"order.placed": {"amount": 3}, "order.paid": {"amount": 3, "method": "card"}}


class IdempotentSink:
    """Keeps the first copy of each event_id, as Weir's sink does; refuses the ids in ``down``."""

    idempotent = True

    def __init__(self) -> None:
        self.items: dict[str, str] = {}
        self.down: set[str] = set()
        self.lock = threading.Lock()
        self.changes: list[dict[str, Any]] = []  # the table's stream: an INSERT per new item

    def store(self, event: TypedEvent[Any]) -> bool:
        if event.event_id in self.down:
            raise TimeoutError("the table did not answer")
        with self.lock:
            if event.event_id in self.items:
                return False  # the condition fails: the item is unchanged, the stream gets nothing
            self.items[event.event_id] = event.type
            image = {"event_id": {"S": event.event_id}, "type": {"S": event.type}}
            sequence = f"{len(self.changes) + 1:021d}"
            self.changes.append({"eventName": "INSERT", "dynamodb": {"NewImage": image, "SequenceNumber": sequence}})
            return True

    def probe(self) -> bool:
        return True


# A record: which event (None: not an envelope), its type, and whether its payload fits.
record_spec = st.tuples(
    st.one_of(st.none(), st.integers(0, 12)),
    st.sampled_from(["order.placed", "order.paid", "order.lost"]),
    st.booleans(),
)


def data(event_number: int | None, type_: str, fits: bool) -> bytes:
    if event_number is None:
        return b"\x00 not an envelope"
    payload = PAYLOADS.get(type_, {"amount": 1}) if fits else {"amount": -1}
    return json.dumps(
        {"event_id": f"e{event_number}", "type": type_, "occurred_at": "2026-12-02T10:00:00Z", "payload": payload}
    ).encode()


@settings(max_examples=120, deadline=None)
@given(
    records=st.lists(record_spec, min_size=1, max_size=40),
    batch_size=st.integers(1, 10),
    lost_answers=st.sets(st.integers(0, 40), max_size=5),
    sink_down_for=st.sets(st.integers(0, 12), max_size=3),
)
def test_the_aggregates_equal_the_distinct_events_stored(
    records: list[tuple[int | None, str, bool]], batch_size: int, lost_answers: set[int], sink_down_for: set[int]
) -> None:
    # Each event number always carries the same type and payload, as copies of one event do.
    fixed: dict[int, tuple[str, bool]] = {}
    stream = []
    for sequence, (number, type_, fits) in enumerate(records, start=1):
        if number is not None:
            type_, fits = fixed.setdefault(number, (type_, fits))
        stream.append(kinesis_record(data(number, type_, fits), f"k{sequence % 4}", sequence=10**50 + sequence))

    # The process consumer, batch by batch, each batch delivered again from its lowest failure
    sink = IdempotentSink()
    sink.down = {f"e{n}" for n in sink_down_for}
    processor = EventProcessor(TYPES, lambda record, body: True, sink.store)
    batches = KeyOrderedBatchProcessor(4)
    for start in range(0, len(stream), batch_size):
        pending = stream[start : start + batch_size]
        for attempt in range(3):
            if attempt == 1:
                sink.down = set()  # the sink answers again
            try:
                response = process_partial_response({"Records": pending}, processor.handle, batches)
                failed = [int(str(f["itemIdentifier"])) for f in response["batchItemFailures"]]
            except BatchProcessingError:
                failed = [int(r["kinesis"]["sequenceNumber"]) for r in pending]
            if not failed:
                break
            pending = [r for r in pending if int(r["kinesis"]["sequenceNumber"]) >= min(failed)]
        else:
            raise AssertionError("a batch never succeeded")

    # The aggregates consumer, over the table's stream in one window, some answers lost (retried with
    # the state from before), the final invocation repeated
    store = FakeStore()
    aggregates = AggregatesService(store)
    state: Any = {}
    changes = sink.changes
    for n, start in enumerate(range(0, len(changes), batch_size)):
        batch = {"Records": changes[start : start + batch_size], "window": WINDOW, "state": state, "shardId": "s"}
        if n in lost_answers:
            aggregates.handle(batch)
        state = aggregates.handle(batch)["state"]
    final = {"Records": [], "window": WINDOW, "state": state, "shardId": "s", "isFinalInvokeForWindow": True}
    for _ in range(2):
        aggregates.handle(final)

    totals = {type_: item["count"] for (_, type_), item in store.items.items()}
    assert totals == dict(Counter(sink.items.values()))
