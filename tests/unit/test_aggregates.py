"""The aggregates consumer: counts per window and type of the events the first consumer stored, read
from the events table's change stream; whatever the mapping delivers twice (a retried batch, a lost
answer, a retried final invocation) counted once, and what is not a new item not counted."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weir.aggregates.service import AggregatesService
from weir.aggregates.window import UNTYPED, Window

WINDOW = {"start": "2026-12-02T10:00:00Z", "end": "2026-12-02T10:01:00Z"}
SHARD = "shardId-00000001000000000000-00000001"


class FakeStore:
    """The aggregates table's condition: a segment is added to a window's type once."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.commits = 0
        self.fail_next = False

    def commit(self, window: Window, counts: Mapping[str, int], segment: str) -> None:
        if self.fail_next:
            self.fail_next = False
            raise TimeoutError("the aggregates table did not answer")
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


def change(event_id: str, type_: str = "order.placed", seq: int = 1, name: str = "INSERT") -> dict[str, Any]:
    """A change record of the events table, as the mapping delivers it (a stored event's item)."""
    image = {"event_id": {"S": event_id}, "type": {"S": type_}, "payload": {"M": {}}}
    return {
        "eventID": f"e{seq}",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1796119200,
            "Keys": {"event_id": {"S": event_id}},
            "NewImage": image,
            "SequenceNumber": f"{seq:021d}",
            "SizeBytes": 80,
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/weir-events/stream/2026-12-02T10:00:00.000",
    }


def event(
    records: list[dict[str, Any]], state: Any, final: bool = False, early: bool = False, window: Any = None
) -> dict[str, Any]:
    return {
        "Records": records,
        "window": window or WINDOW,
        "state": state,
        "shardId": SHARD,
        "isFinalInvokeForWindow": final,
        "isWindowTerminatedEarly": early,
    }


def service() -> tuple[AggregatesService, FakeStore]:
    store = FakeStore()
    return AggregatesService(store), store


def test_counts_travel_in_the_state_and_are_committed_only_when_the_window_ends() -> None:
    svc, store = service()
    answer = svc.handle(event([change("a", seq=1), change("b", "order.paid", seq=2)], {}))
    assert answer["state"]["counts"] == {"order.placed": 1, "order.paid": 1}
    assert answer["batchItemFailures"] == []
    answer = svc.handle(event([change("c", seq=3)], answer["state"]))
    assert store.items == {}
    final = svc.handle(event([], answer["state"], final=True))
    assert final == {"state": {}, "batchItemFailures": []}
    assert store.totals() == {"order.placed": 2, "order.paid": 1}


def test_every_invocation_returns_a_state_even_an_empty_one() -> None:
    svc, store = service()
    assert svc.handle(event([], {}))["state"] == {}
    assert svc.handle(event([], {}, final=True))["state"] == {}
    assert store.commits == 0  # nothing counted, nothing written


def test_two_windows_are_counted_apart() -> None:
    svc, store = service()
    later = {"start": "2026-12-02T10:01:00Z", "end": "2026-12-02T10:02:00Z"}
    state = svc.handle(event([change("a", seq=1)], {}))["state"]
    svc.handle(event([], state, final=True))
    state = svc.handle(event([change("b", seq=2), change("c", seq=3)], {}, window=later))["state"]
    svc.handle(event([], state, final=True, window=later))
    assert store.totals(WINDOW["start"]) == {"order.placed": 1}
    assert store.totals(later["start"]) == {"order.placed": 2}


def test_a_batch_retried_after_a_failure_is_counted_once() -> None:
    svc, store = service()
    state = svc.handle(event([change("a", seq=1)], {}))["state"]
    batch = [change("b", seq=2), change("c", seq=3)]
    first = svc.handle(event(batch, state))  # its answer is lost: the mapping retries with the old state
    assert first["state"]["counts"] == {"order.placed": 3}
    again = svc.handle(event(batch, state))
    svc.handle(event([], again["state"], final=True))
    assert store.totals() == {"order.placed": 3}


def test_a_final_invocation_that_failed_or_was_retried_commits_everything_once() -> None:
    svc, store = service()
    state = svc.handle(event([change("a", seq=1), change("b", "order.paid", seq=2)], {}))["state"]
    store.fail_next = True
    with pytest.raises(TimeoutError):  # the mapping retries a final invocation until it succeeds
        svc.handle(event([], state, final=True))
    svc.handle(event([], state, final=True))
    svc.handle(event([], state, final=True))  # its answer was lost; Lambda invokes it again
    assert store.totals() == {"order.placed": 1, "order.paid": 1}


def test_only_new_items_count_a_change_that_is_not_one_is_passed_over() -> None:
    # the mapping's filter passes INSERTs only; a MODIFY or REMOVE that came anyway is no stored event
    svc, store = service()
    records = [change("a", seq=1), change("a", seq=2, name="MODIFY"), change("a", seq=3, name="REMOVE")]
    state = svc.handle(event(records, {}))["state"]
    svc.handle(event([], state, final=True))
    assert store.totals() == {"order.placed": 1}


def test_an_item_without_a_type_is_counted_as_untyped_and_never_fails_the_window() -> None:
    svc, store = service()
    untyped = change("x", seq=1)
    del untyped["dynamodb"]["NewImage"]["type"]
    answer = svc.handle(event([untyped, change("a", seq=2)], {}))
    assert answer["batchItemFailures"] == []
    svc.handle(event([], answer["state"], final=True))
    assert store.totals() == {UNTYPED: 1, "order.placed": 1}


def test_an_early_termination_commits_what_the_state_holds_and_the_window_goes_on() -> None:
    svc, store = service()
    state = svc.handle(event([change("a", seq=1)], {}))["state"]
    assert svc.handle(event([], state, early=True))["state"] == {}
    state = svc.handle(event([change("b", seq=2)], {}))["state"]
    svc.handle(event([], state, final=True))
    svc.handle(event([], state, final=True))  # retried: its segment is already in
    assert store.totals() == {"order.placed": 2}
    assert store.commits == 3


def test_a_state_that_is_not_ours_is_refused_naming_it() -> None:
    svc, _ = service()
    with pytest.raises(ValueError, match="counts"):
        svc.handle(event([], {"counts": {"x": "many"}}))


def test_an_event_without_a_window_is_refused() -> None:
    svc, _ = service()
    with pytest.raises(ValueError, match="TumblingWindowInSeconds"):
        svc.handle({"Records": []})


# A delivery plan: the window's change records in batches; each batch may have its answer lost
# (retried with the state from before) before one counts, and the final invocation may repeat.
deliveries = st.lists(
    st.tuples(
        st.lists(st.sampled_from(["a.x", "b.y", "c.z"]), min_size=1, max_size=6),
        st.integers(0, 2),  # times the batch's answer is lost before one counts
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=80, deadline=None)
@given(plan=deliveries, final_repeats=st.integers(1, 3))
def test_whatever_is_delivered_again_each_stored_event_is_counted_once(
    plan: list[tuple[list[str], int]], final_repeats: int
) -> None:
    svc, store = service()
    state: Any = {}
    seq = 0
    expected: dict[str, int] = {}
    for batch, lost in plan:
        records = []
        for type_ in batch:
            seq += 1
            records.append(change(f"e{seq}", type_, seq=seq))
            expected[type_] = expected.get(type_, 0) + 1
        for _ in range(lost):
            svc.handle(event(records, state))  # the answer never reaches the mapping
        state = svc.handle(event(records, state))["state"]
    for _ in range(final_repeats):
        svc.handle(event([], state, final=True))
    assert store.totals() == expected


# --- the latency from the API to this consumer ---------------------------------------------------------


def stamped(event_id: str, seq: int, accepted_at: str, origin: str | None = None) -> dict[str, Any]:
    record = change(event_id, seq=seq)
    image = record["dynamodb"]["NewImage"]
    image["accepted_at"] = {"S": accepted_at}
    if origin is not None:
        image["origin"] = {"S": origin}
    return record


def emitted(capsys: pytest.CaptureFixture[str]) -> dict[str, list[float]]:
    """The metric values (EMF) the function printed since the last call, by name."""
    from weir.observability import metrics

    metrics.flush_metrics()
    found: dict[str, list[float]] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = document[definition["Name"]]
                found.setdefault(definition["Name"], []).extend(value if isinstance(value, list) else [value])
    return found


def test_the_latency_from_the_api_is_one_value_per_counted_event_redriven_ones_apart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = datetime(2026, 12, 2, 10, 0, 30, tzinfo=UTC)
    svc = AggregatesService(FakeStore(), now=lambda: now)
    records = [
        stamped("a", 1, "2026-12-02T10:00:28.000Z"),
        stamped("b", 2, "2026-12-02T10:00:29.500Z"),
        stamped("c", 3, "2026-12-01T10:00:30.000Z", origin="redrive"),  # back from the failure destination
        change("d", seq=4),  # stored before the API stamped events: no figure
    ]
    svc.handle(event(records, {}))
    figures = emitted(capsys)
    assert sorted(figures["IngestToAggregateLatency"]) == [500.0, 2000.0]
    assert figures["RedrivenIngestToAggregateLatency"] == [86_400_000.0]


def test_an_event_a_replay_stored_again_after_it_was_counted_is_not_counted_twice() -> None:
    svc, store = service()
    again = change("lost-and-back", seq=2)
    again["dynamodb"]["NewImage"]["counted_before"] = {"BOOL": True}  # weir.origin.COUNTED_BEFORE
    never = change("never-stored", seq=3)
    never["dynamodb"]["NewImage"]["origin"] = {"S": "replay"}  # replayed with recount: counted
    answer = svc.handle(event([change("a", seq=1), again, never], {}))
    svc.handle(event([], answer["state"], final=True))
    assert store.totals() == {"order.placed": 2}
