"""A replay run with fakes and a fake clock: what is already stored stays alone, a run its deadline cuts
goes on from its place and finishes with every event put back once, an aggregate is never cut, a
failed put keeps the place before it, the filters narrow, parents are read before their children,
and a request that makes no sense is refused naming why."""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fakes import FakeClock, FakeKinesis
from weir import kpl
from weir.deadline import Deadline
from weir.producer import Producer
from weir.redrive.limiter import RateLimiter
from weir.replay.cursor import Place
from weir.replay.request import ReplayRequest, parse_request
from weir.replay.service import ReplayService
from weir.replay.stream_source import StreamRecord, in_lineage_order

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
START, END = NOW - timedelta(hours=1), NOW


def envelope(event_id: str, type_: str = "order.placed", key: str = "k") -> bytes:
    return json.dumps({"event_id": event_id, "type": type_, "partition_key": key}).encode()


class FakeReader:
    """Each shard's records in order; ``records`` goes on after a sequence number, as Kinesis does."""

    def __init__(self, shards: dict[str, list[StreamRecord]], clock: FakeClock, read_seconds: float = 1.0) -> None:
        self._shards = shards
        self._clock = clock
        self._read_seconds = read_seconds
        self.reads: list[tuple[str, str | None]] = []

    def shards(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        return [{"ShardId": s} for s in self._shards]

    def retention_hours(self) -> int:
        return 24

    def records(self, shard_id: str, start: datetime, after: str | None, end: datetime) -> Generator[StreamRecord]:
        self.reads.append((shard_id, after))
        for record in self._shards[shard_id]:
            if after is not None and int(record.sequence_number) <= int(after):
                continue
            self._clock.now += self._read_seconds / 10
            yield record


class MemoryCursors:
    def __init__(self) -> None:
        self.places: dict[str, Place] = {}

    def load(self, fingerprint: str) -> Place:
        place = self.places.get(fingerprint, Place())
        return Place(dict(place.positions), set(place.finished))

    def save(self, fingerprint: str, place: Place) -> None:
        self.places[fingerprint] = Place(dict(place.positions), set(place.finished))

    def forget(self, fingerprint: str) -> None:
        self.places.pop(fingerprint, None)


class MemoryStored:
    def __init__(self, ids: set[str]) -> None:
        self.ids = ids

    def which(self, event_ids: list[str]) -> set[str]:
        return set(event_ids) & self.ids


def plain(shard: str, seq: int, event_id: str, **kw: Any) -> StreamRecord:
    return StreamRecord(
        shard, str(seq), None, kw.get("key", "k"), envelope(event_id, **kw), START + timedelta(seconds=seq)
    )


def service(
    shards: dict[str, list[StreamRecord]], stored: set[str], script: Any = None, batch: int = 4, rate: float = 1000
) -> tuple[ReplayService, FakeKinesis, MemoryCursors, FakeClock]:
    clock = FakeClock()
    kinesis = FakeKinesis(script, clock=clock, call_seconds=0.05)
    producer = Producer(kinesis, "s", call_seconds=0.1, sleep=clock.sleep, clock=clock)
    cursors = MemoryCursors()
    replay = ReplayService(
        {"stream": FakeReader(shards, clock)},
        producer,
        RateLimiter(rate, clock=clock, sleep=clock.sleep),
        cursors,  # type: ignore[arg-type]
        MemoryStored(stored),
        batch_records=batch,
        now=lambda: NOW,
    )
    return replay, kinesis, cursors, clock


def put_back(kinesis: FakeKinesis) -> list[dict[str, Any]]:
    return [json.loads(data) for _, data in kinesis.written]


def request(**kw: Any) -> ReplayRequest:
    return ReplayRequest.model_validate({"from": START, "to": END, **kw})


def test_only_events_missing_from_the_table_go_back_marked_and_keeping_their_ids() -> None:
    shards = {"s0": [plain("s0", i, f"e{i}") for i in range(1, 7)]}
    replay, kinesis, _, clock = service(shards, stored={"e1", "e2", "e4", "e5"})
    report = replay.run(request(), Deadline(60, clock))
    assert report.complete
    assert dict(+report.counts) == {"read": 6, "already_stored": 4, "replayed": 2}
    assert put_back(kinesis) == [
        {"event_id": e, "type": "order.placed", "partition_key": "k", "origin": "replay", "counted_before": True}
        for e in ("e3", "e6")
    ]
    # every event, for a new consumer; and recount leaves the aggregates free to count them
    replay, kinesis, _, clock = service(shards, stored={"e1"})
    replay.run(request(every_event=True, recount=True), Deadline(60, clock))
    assert [e["event_id"] for e in put_back(kinesis)] == [f"e{i}" for i in range(1, 7)]
    assert all("counted_before" not in e and e["origin"] == "replay" for e in put_back(kinesis))


def test_a_run_cut_by_its_deadline_goes_on_from_its_place_and_every_event_goes_back_once() -> None:
    shards = {s: [plain(s, i, f"{s}-{i}") for i in range(1, 41)] for s in ("s0", "s1")}
    replay, kinesis, cursors, clock = service(shards, stored=set(), batch=5, rate=20)
    reports = []
    for _ in range(20):
        reports.append(replay.run(request(), Deadline(2.0, clock)))  # 2 s runs at 20 records/s
        if reports[-1].complete:
            break
    assert len(reports) > 2
    assert all(r.stopped in ("deadline", "rate") for r in reports[:-1])
    assert reports[-1].complete
    ids = [e["event_id"] for e in put_back(kinesis)]
    assert sorted(ids) == sorted(f"{s}-{i}" for s in ("s0", "s1") for i in range(1, 41))  # each once
    assert sum(r.counts["read"] for r in reports) == 80  # a batch a run could not finish is counted by the next
    assert cursors.places == {}  # done: forgotten, so the same request later replays anew


def test_an_aggregate_is_never_cut_between_runs() -> None:
    users = [kpl.UserRecord("k", envelope(f"a{i}")) for i in range(7)]
    aggregate = [StreamRecord("s0", "5", i, "k", u.data, START) for i, u in enumerate(users)]
    shards = {"s0": [plain("s0", 1, "p1"), *aggregate, plain("s0", 9, "p9")]}
    replay, kinesis, _, clock = service(shards, stored=set(), batch=3)
    report = replay.run(request(max_records=3), Deadline(60, clock))
    # the run stops at 3 records read, but only between Kinesis records: the aggregate is whole
    assert report.stopped == "max_records"
    assert report.counts["read"] == 8
    report = replay.run(request(max_records=3), Deadline(60, clock))
    assert report.complete
    assert [e["event_id"] for e in put_back(kinesis)] == ["p1", *(f"a{i}" for i in range(7)), "p9"]


def test_a_put_that_fails_keeps_the_place_before_its_batch() -> None:
    shards = {"s0": [plain("s0", i, f"e{i}") for i in range(1, 9)]}
    always_throttled = lambda call, records: ["ProvisionedThroughputExceededException"] * len(records)  # noqa: E731
    replay, kinesis, cursors, clock = service(shards, stored=set(), script=always_throttled, batch=4)
    report = replay.run(request(), Deadline(5, clock))
    assert report.stopped == "put_failed"
    assert report.counts["replayed"] == 0
    assert kinesis.written == []
    assert cursors.places == {}  # no place past the batch that did not go back: the next run puts it again


def test_filters_narrow_by_type_and_partition_key_and_what_is_no_event_is_counted_apart() -> None:
    shards = {
        "s0": [
            plain("s0", 1, "a", type_="order.placed", key="x"),
            plain("s0", 2, "b", type_="order.paid", key="x"),
            plain("s0", 3, "c", type_="order.placed", key="y"),
            StreamRecord("s0", "4", None, "x", b"\x00 not json", START),
        ]
    }
    replay, kinesis, _, clock = service(shards, stored=set())
    report = replay.run(request(types=["order.placed"], partition_key="x"), Deadline(60, clock))
    assert dict(+report.counts) == {"read": 4, "filtered_out": 2, "unreadable": 1, "replayed": 1}
    assert [e["event_id"] for e in put_back(kinesis)] == ["a"]


def test_a_dry_run_reads_and_reports_and_puts_nothing() -> None:
    shards = {"s0": [plain("s0", i, f"e{i}") for i in range(1, 5)]}
    replay, kinesis, cursors, clock = service(shards, stored={"e1"})
    report = replay.run(request(dry_run=True), Deadline(60, clock))
    assert dict(+report.counts) == {"read": 4, "already_stored": 1, "would_replay": 3}
    assert kinesis.calls == []
    assert cursors.places == {}


def test_parents_are_read_before_their_children() -> None:
    shards = [
        {"ShardId": "child-a", "ParentShardId": "parent"},
        {"ShardId": "merged", "ParentShardId": "child-a", "AdjacentParentShardId": "child-b"},
        {"ShardId": "child-b", "ParentShardId": "parent"},
        {"ShardId": "parent"},
    ]
    order = [s["ShardId"] for s in in_lineage_order(shards)]
    assert order.index("parent") < order.index("child-a") < order.index("merged")
    assert order.index("child-b") < order.index("merged")


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({"from": "2026-12-06T11:00:00Z"}, "to: Field required"),
        ({"from": "2026-12-06T11:00:00Z", "to": "2026-12-06T10:00:00Z"}, "must be before to"),
        ({"from": "2026-12-06T10:00:00", "to": "2026-12-06T11:00:00Z"}, "time zone"),
        ({"from": "2026-12-06T10:00:00Z", "to": "2026-12-06T11:00:00Z", "sources": ["x"]}, "sources"),
    ],
)
def test_a_request_that_makes_no_sense_is_refused_naming_why(event: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match="invalid replay request") as refused:
        parse_request(event)
    assert named in str(refused.value)


def test_a_range_that_starts_in_the_future_is_refused_and_one_before_the_retention_is_told() -> None:
    replay, _, _, clock = service({"s0": []}, stored=set())
    with pytest.raises(ValueError, match="in the future"):
        replay.run(
            ReplayRequest.model_validate({"from": NOW + timedelta(minutes=1), "to": NOW + timedelta(hours=1)}),
            Deadline(9, clock),
        )
    report = replay.run(ReplayRequest.model_validate({"from": NOW - timedelta(days=3), "to": NOW}), Deadline(9, clock))
    assert "before the stream's retention" in report.notes[0]


def test_a_run_never_waits_for_its_rate_to_the_edge_of_its_deadline_and_the_next_run_goes_on() -> None:
    # GIVEN the rate's last share ending just before this run's deadline (a previous run's large batch)
    shards = {"s0": [plain("s0", i, f"e{i}") for i in range(1, 6)]}
    replay, kinesis, _, clock = service(shards, stored=set(), rate=1)
    replay.limiter._next = clock() + 24.9
    started = clock()
    report = replay.run(request(), Deadline(25, clock))
    # THEN it stops at once: a wait to the edge would leave the put no time, and every later run
    # would wait to its own edge and put nothing (the first e2e run looped so 133 times)
    assert report.stopped == "rate"
    assert kinesis.calls == []
    assert clock() - started < 1
    clock.now += 10
    report = replay.run(request(), Deadline(25, clock))
    assert report.complete
    assert [e["event_id"] for e in put_back(kinesis)] == [f"e{i}" for i in range(1, 6)]


def test_a_second_replay_finds_the_lease_taken_and_reads_nothing() -> None:
    from tests.fakes import FakeLambdaContext
    from weir.redrive.lease import Holder

    class TakenLease:
        def __init__(self) -> None:
            self.released: list[str] = []

        def acquire(self, owner: str, seconds: float) -> Holder | None:
            return Holder("the-first-replay", 1_800_000_000.0)

        def release(self, owner: str) -> None:
            self.released.append(owner)

    shards = {"s0": [plain("s0", 1, "e1")]}
    replay, kinesis, _, _ = service(shards, stored=set())
    lease = TakenLease()
    replay.lease = lease  # type: ignore[assignment]
    answer = replay.handle({"from": START.isoformat(), "to": END.isoformat()}, FakeLambdaContext(timeout_seconds=60))
    assert (answer["complete"], answer["stopped"]) == (False, "lease")
    assert answer["lease_holder"].startswith("the-first-replay until")
    assert kinesis.calls == []
    assert lease.released == []  # not ours to give back
