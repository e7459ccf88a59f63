"""The aggregates consumer: counts per window and type, exactly once per event_id, whatever the
mapping delivers twice (a retried batch, a retried final invocation, the same event posted twice, a
shard split), with poison counted apart and never failing the window."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from weir.aggregates.service import AggregatesService
from weir.aggregates.window import POISON_TYPE, Counted, Window
from weir.payloads import EventTypes

WINDOW = {"start": "2026-12-02T10:00:00Z", "end": "2026-12-02T10:01:00Z"}


class FakeClaims:
    """The claims table's condition: free, or already held by the same record."""

    def __init__(self) -> None:
        self.owners: dict[str, str] = {}
        self.fail_next = False

    def claim(self, records: list[Counted]) -> set[str]:
        if self.fail_next:
            self.fail_next = False
            raise TimeoutError("the claims table did not answer")
        owned = set()
        for record in records:
            assert record.event_id is not None
            holder = self.owners.setdefault(record.event_id, record.owner)
            if holder == record.owner:
                owned.add(record.owner)
        return owned


class FakeStore:
    """The aggregates table's condition: a segment is added to a window's type once."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.commits = 0

    def commit(self, window: Window, counts: Mapping[str, int], segment: str) -> None:
        self.commits += 1
        for type_, count in counts.items():
            item = self.items.setdefault((window.start, type_), {"count": 0, "segments": set()})
            if segment not in item["segments"]:
                item["count"] += count
                item["segments"].add(segment)

    def totals(self, window_start: str | None = None) -> dict[str, int]:
        found: dict[str, int] = {}
        for (start, type_), item in self.items.items():
            if window_start is None or start == window_start:
                found[type_] = found.get(type_, 0) + item["count"]
        return found


def record(
    event_id: str, type_: str = "order.placed", seq: int = 1, shard: str = "shardId-000000000000"
) -> dict[str, Any]:
    envelope = {
        "event_id": event_id,
        "type": type_,
        "occurred_at": "2026-12-02T10:00:00Z",
        "payload": {"n": 1},
    }
    return {
        "kinesis": {"data": base64.b64encode(json.dumps(envelope).encode()).decode(), "sequenceNumber": str(seq)},
        "eventID": f"{shard}:{seq}",
    }


def poison(seq: int) -> dict[str, Any]:
    return {
        "kinesis": {"data": base64.b64encode(b"not json").decode(), "sequenceNumber": str(seq)},
        "eventID": f"s:{seq}",
    }


def event(
    records: list[dict[str, Any]], state: Any, final: bool = False, early: bool = False, window: Any = None
) -> dict[str, Any]:
    return {
        "Records": records,
        "window": window or WINDOW,
        "state": state,
        "shardId": "shardId-000000000000",
        "isFinalInvokeForWindow": final,
        "isWindowTerminatedEarly": early,
    }


class AnyPayload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


# The counting is the core's, whatever a domain's types are: these tests take any type and payload.
ANY_TYPE = EventTypes({}, other=AnyPayload)


def service(event_types: EventTypes = ANY_TYPE) -> tuple[AggregatesService, FakeClaims, FakeStore]:
    claims, store = FakeClaims(), FakeStore()
    return AggregatesService(event_types, claims, store), claims, store


def test_counts_travel_in_the_state_and_are_committed_only_when_the_window_ends() -> None:
    svc, _, store = service()
    answer = svc.handle(event([record("a", seq=1), record("b", "order.paid", seq=2)], {}))
    assert answer["state"]["counts"] == {"order.placed": 1, "order.paid": 1}
    assert answer["batchItemFailures"] == []
    answer = svc.handle(event([record("c", seq=3)], answer["state"]))
    assert store.items == {}
    final = svc.handle(event([], answer["state"], final=True))
    assert final == {"state": {}, "batchItemFailures": []}
    assert store.totals() == {"order.placed": 2, "order.paid": 1}


def test_every_invocation_returns_a_state_even_an_empty_one() -> None:
    svc, _, store = service()
    assert svc.handle(event([], {}))["state"] == {}
    assert svc.handle(event([], {}, final=True))["state"] == {}
    assert store.commits == 0  # nothing counted, nothing written


def test_two_windows_are_counted_apart() -> None:
    svc, _, store = service()
    later = {"start": "2026-12-02T10:01:00Z", "end": "2026-12-02T10:02:00Z"}
    state = svc.handle(event([record("a", seq=1)], {}))["state"]
    svc.handle(event([], state, final=True))
    state = svc.handle(event([record("b", seq=2), record("c", seq=3)], {}, window=later))["state"]
    svc.handle(event([], state, final=True, window=later))
    assert store.totals(WINDOW["start"]) == {"order.placed": 1}
    assert store.totals(later["start"]) == {"order.placed": 2}


def test_a_batch_retried_after_a_failure_is_counted_once() -> None:
    svc, claims, store = service()
    state = svc.handle(event([record("a", seq=1)], {}))["state"]
    batch = [record("b", seq=2), record("c", seq=3)]
    first = svc.handle(event(batch, state))  # its answer is lost: the mapping retries with the old state
    assert first["state"]["counts"] == {"order.placed": 3}
    claims.fail_next = True
    with pytest.raises(TimeoutError):  # a failed invocation: the mapping keeps the state it had and retries
        svc.handle(event(batch, state))
    again = svc.handle(event(batch, state))
    svc.handle(event([], again["state"], final=True))
    assert store.totals() == {"order.placed": 3}


def test_a_final_invocation_retried_commits_nothing_twice() -> None:
    svc, _, store = service()
    state = svc.handle(event([record("a", seq=1), record("b", "order.paid", seq=2)], {}))["state"]
    svc.handle(event([], state, final=True))
    svc.handle(event([], state, final=True))  # its answer was lost; Lambda invokes it again
    assert store.totals() == {"order.placed": 1, "order.paid": 1}


def test_an_event_posted_twice_is_counted_once_even_in_a_later_window() -> None:
    svc, _, store = service()
    later = {"start": "2026-12-02T10:01:00Z", "end": "2026-12-02T10:02:00Z"}
    state = svc.handle(event([record("a", seq=1), record("a", seq=2)], {}))["state"]
    svc.handle(event([], state, final=True))
    state = svc.handle(event([record("a", seq=9)], {}, window=later))["state"]
    svc.handle(event([], state, final=True, window=later))
    assert store.totals() == {"order.placed": 1}


def test_after_a_shard_split_a_child_shards_copy_is_not_counted_again() -> None:
    svc, _, store = service()
    state = svc.handle(event([record("a", seq=1, shard="shardId-000000000000")], {}))["state"]
    svc.handle(event([], state, final=True))  # "When a shard ends, Lambda considers the window closed"
    child = event([record("a", seq=5, shard="shardId-000000000002")], {})
    child["shardId"] = "shardId-000000000002"
    state = svc.handle(child)["state"]
    svc.handle({**child, "Records": [], "state": state, "isFinalInvokeForWindow": True})
    assert store.totals() == {"order.placed": 1}


def test_an_early_termination_commits_what_the_state_holds_and_the_window_goes_on() -> None:
    svc, _, store = service()
    state = svc.handle(event([record("a", seq=1)], {}))["state"]
    assert svc.handle(event([], state, early=True))["state"] == {}
    state = svc.handle(event([record("b", seq=2)], {}))["state"]
    svc.handle(event([], state, final=True))
    svc.handle(event([], state, final=True))  # retried: its segment is already in
    assert store.totals() == {"order.placed": 2}
    assert store.commits == 3


def test_poison_is_counted_apart_and_never_fails_the_window() -> None:
    svc, _, store = service()
    answer = svc.handle(event([poison(1), record("a", seq=2), poison(3)], {}))
    assert answer["batchItemFailures"] == []
    svc.handle(event([], answer["state"], final=True))
    assert store.totals() == {POISON_TYPE: 2, "order.placed": 1}


def test_a_state_that_is_not_ours_is_refused_naming_it() -> None:
    svc, _, _ = service()
    with pytest.raises(ValueError, match="counts"):
        svc.handle(event([], {"counts": {"x": "many"}}))


def test_an_event_without_a_window_is_refused() -> None:
    svc, _, _ = service()
    with pytest.raises(ValueError, match="TumblingWindowInSeconds"):
        svc.handle({"Records": []})


# A delivery plan: the window's records in batches; each batch may fail (its answer lost) before
# it succeeds, and the final invocation may be repeated. Events repeat by id across the stream.
deliveries = st.lists(
    st.tuples(
        st.lists(st.tuples(st.integers(0, 12), st.sampled_from(["a.x", "b.y", "c.z"])), min_size=1, max_size=6),
        st.integers(0, 2),  # times the batch's answer is lost before one counts
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=80, deadline=None)
@given(plan=deliveries, final_repeats=st.integers(1, 3))
def test_whatever_is_delivered_twice_each_event_id_is_counted_once(
    plan: list[tuple[list[tuple[int, str]], int]], final_repeats: int
) -> None:
    svc, _, store = service()
    state: Any = {}
    seq = 0
    first_type: dict[str, str] = {}
    for batch, lost in plan:
        records = []
        for event_number, type_ in batch:
            seq += 1
            event_id = f"e{event_number}"
            first_type.setdefault(event_id, type_)
            records.append(record(event_id, first_type[event_id], seq=seq))
        for _ in range(lost):
            svc.handle(event(records, state))  # the answer never reaches the mapping
        state = svc.handle(event(records, state))["state"]
    for _ in range(final_repeats):
        svc.handle(event([], state, final=True))
    expected: dict[str, int] = {}
    for type_ in first_type.values():
        expected[type_] = expected.get(type_, 0) + 1
    assert store.totals() == expected


def test_an_event_the_first_consumer_would_quarantine_counts_as_poison() -> None:
    # GIVEN a stream that takes order.placed with an amount, and nothing else
    class Placed(BaseModel):
        amount: int = Field(ge=0)

    svc, _, _ = service(EventTypes({"order.placed": Placed}))
    good, unknown, bad = record("a", seq=1), record("b", "order.lost", seq=2), record("c", seq=3)
    for item, payload in ((good, {"amount": 5}), (unknown, {"amount": 5}), (bad, {"amount": -1})):
        document = json.loads(base64.b64decode(item["kinesis"]["data"]))
        item["kinesis"]["data"] = base64.b64encode(json.dumps({**document, "payload": payload}).encode()).decode()
    # WHEN counted THEN the type it does not take and the payload that does not fit are poison
    answer = svc.handle(event([good, unknown, bad], {}))
    assert answer["state"]["counts"] == {"order.placed": 1, POISON_TYPE: 2}
