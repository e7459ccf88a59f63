"""A redrive run with fakes and a fake clock: attempts are counted only for records really put back,
a run stops at the first refusal of its rate limiter and says what it left, a queue is empty only
when it is, and one run at a time holds the lease."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from tests.fakes import FakeClock, FakeKinesis, logged_lines
from weir.deadline import Deadline
from weir.producer import Producer, Record
from weir.redrive.attempts import record_identity
from weir.redrive.lease import RunLease
from weir.redrive.limiter import RateLimiter
from weir.redrive.request import RedriveRequest, SourceName
from weir.redrive.service import RedriveService
from weir.redrive.sources import Item
from weir.sqs_drain import QueueDrain

NOW = datetime(2026, 11, 24, tzinfo=UTC)


class MemoryAttempts:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def count(self, identity: str) -> int:
        return self.counts[identity]

    def put_back(self, identity: str) -> int:
        self.counts[identity] += 1
        return self.counts[identity]


@dataclass
class MemorySource:
    """A queue of items in memory; ``parked`` holds what went to the unrecoverable place."""

    name: SourceName = "overflow"
    waiting: list[Item] = field(default_factory=list)
    parked: list[tuple[Item, str]] = field(default_factory=list)
    done_items: list[Item] = field(default_factory=list)
    drained: bool = False

    def items(self, request: RedriveRequest, deadline: Deadline) -> Generator[Item, None, None]:
        self.drained = False
        yield from list(self.waiting)
        self.drained = True

    def records(self, item: Item) -> list[Record]:
        return [Record(line.encode(), "k") for line in item.body.decode().splitlines()]

    def done(self, item: Item) -> None:
        self.waiting.remove(item)
        self.done_items.append(item)

    def release(self, item: Item) -> None:
        """It stays in ``waiting``."""

    def let_go(self) -> None:
        """Nothing is hidden."""

    def unrecoverable(self, item: Item, reason: str) -> None:
        self.waiting.remove(item)
        self.parked.append((item, reason))

    def remaining(self) -> int:
        return len(self.waiting)


def item(index: int, records: int) -> Item:
    lines = "\n".join(json.dumps({"event_id": f"e{index}-{r}"}) for r in range(records))
    return Item("overflow", f"m{index}", lines.encode(), NOW)


def service(source: MemorySource, clock: FakeClock, rate: float, max_attempts: int) -> tuple[RedriveService, Any]:
    kinesis = FakeKinesis(clock=clock, call_seconds=0.05)
    producer = Producer(kinesis, "s", call_seconds=0.1, sleep=clock.sleep, clock=clock)
    attempts = MemoryAttempts()
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    redrive = RedriveService({"overflow": source}, producer, attempts, max_attempts, limiter)  # type: ignore[arg-type]
    return redrive, kinesis


def put_back_counts(kinesis: FakeKinesis) -> Counter[str]:
    return Counter(record_identity(Record(data, key)) for key, data in kinesis.written)


def test_a_large_backlog_at_a_low_rate_is_never_parked_before_it_was_put_back() -> None:
    # GIVEN 50 items of 5 records, 1 record/s, runs of 12 s (which parked 43 items in the fourth run)
    clock = FakeClock()
    source = MemorySource(waiting=[item(i, 5) for i in range(50)])
    redrive, kinesis = service(source, clock, rate=1, max_attempts=3)
    # WHEN four runs go by
    reports = [redrive.run(RedriveRequest(), Deadline(12, clock)) for _ in range(4)]
    # THEN nothing is parked, each run stopped at the limiter's first refusal and said what it left
    assert source.parked == []
    for report in reports:
        assert report.complete is False
        assert report.stopped == "rate"
        assert report.left_for_next_run["overflow"] > 0
    assert reports[-1].left_for_next_run == {"overflow": len(source.waiting)}
    # every record counted was really put back, once per run that put it
    assert all(count == 1 for count in put_back_counts(kinesis).values())
    assert len(source.done_items) == sum(r.counts["overflow"]["items_redriven"] for r in reports)


def test_a_record_is_parked_only_after_it_was_put_back_the_bound_and_came_back() -> None:
    clock = FakeClock()
    source = MemorySource(waiting=[item(0, 2)])
    redrive, kinesis = service(source, clock, rate=1000, max_attempts=3)
    for run in range(3):
        report = redrive.run(RedriveRequest(), Deadline(60, clock))
        assert report.counts["overflow"]["items_redriven"] == 1, run
        source.waiting.append(item(0, 2))  # the consumer failed it again: it is back in the source
    with logged_lines() as lines:
        report = redrive.run(RedriveRequest(), Deadline(60, clock))
    assert report.counts["overflow"] == Counter({"items": 1, "attempts_exhausted": 1})
    [(_, reason)] = source.parked
    assert "put back on the stream 3 times" in reason
    assert set(put_back_counts(kinesis).values()) == {3}
    # the line make trace finds the item's events by
    (parked,) = [line for line in lines if line["message"] == "item parked as unrecoverable"]
    assert parked["event_ids"] == ["e0-0", "e0-1"]
    assert parked["outcome"] == "attempts_exhausted"


@settings(max_examples=60, deadline=None)
@given(
    backlog=st.integers(1, 25),
    records=st.integers(1, 6),
    rate=st.sampled_from([0.5, 1, 3, 10, 100]),
    run_seconds=st.sampled_from([3, 12, 60]),
    max_attempts=st.integers(1, 4),
    comes_back=st.floats(0, 1),
    seed=st.integers(0, 2**16),
)
def test_attempts_exhausted_only_after_the_bound_of_real_re_puts(
    backlog: int, records: int, rate: float, run_seconds: int, max_attempts: int, comes_back: float, seed: int
) -> None:
    # GIVEN any backlog, rate and run length, where a redriven item fails again with some chance
    rng = random.Random(seed)
    clock = FakeClock()
    source = MemorySource(waiting=[item(i, records) for i in range(backlog)])
    redrive, kinesis = service(source, clock, rate=rate, max_attempts=max_attempts)
    # WHEN runs go by until nothing waits (bounded)
    for _ in range(400):
        if not source.waiting:
            break
        before = len(source.done_items)
        redrive.run(RedriveRequest(), Deadline(run_seconds, clock))
        for done in source.done_items[before:]:
            if rng.random() < comes_back:
                source.waiting.append(Item(done.source, done.ref, done.body, NOW))
        clock.sleep(1)
    # THEN an item is parked only when each of its records was put back exactly the bound
    puts = put_back_counts(kinesis)
    for parked, reason in source.parked:
        identities = [record_identity(r) for r in source.records(parked)]
        assert [puts[i] for i in identities] == [max_attempts] * len(identities), reason
    # and no record was ever put back more often than the bound
    assert max(puts.values(), default=0) <= max_attempts


# --- SQS: a quiet queue is not an empty one ---------------------------------------------------


class FlakySqs:
    """An SQS stand-in that answers some receives empty while messages wait (as short polls do
    on real SQS), and counts visible messages exactly or with a lag."""

    def __init__(self, bodies: list[str], false_empty: float, lagging_count: int = 0, seed: int = 7) -> None:
        self.visible = [{"MessageId": f"m{i}", "Body": b, "ReceiptHandle": f"h{i}"} for i, b in enumerate(bodies)]
        self.invisible: list[dict[str, Any]] = []
        self.false_empty = false_empty
        self.lagging_count = lagging_count
        self.rng = random.Random(seed)
        self.false_empties_given = 0
        self.waits: list[int] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.waits.append(kwargs["WaitTimeSeconds"])
        if self.visible and self.rng.random() < self.false_empty:
            self.false_empties_given += 1
            return {}
        taken, self.visible = (
            self.visible[: kwargs["MaxNumberOfMessages"]],
            self.visible[kwargs["MaxNumberOfMessages"] :],
        )
        self.invisible.extend(taken)
        return {"Messages": [{**m, "Attributes": {"SentTimestamp": "1795437600000"}} for m in taken]}

    def get_queue_attributes(self, **kwargs: Any) -> dict[str, Any]:
        return {"Attributes": {"ApproximateNumberOfMessages": str(len(self.visible) + self.lagging_count)}}


def test_false_empty_answers_do_not_end_the_drain() -> None:
    sqs = FlakySqs([f"body-{i}" for i in range(95)], false_empty=0.3)
    drain = QueueDrain(sqs, "url", visibility_seconds=300)
    received = [m["Body"] for m in drain.messages()]
    assert sorted(received) == sorted(f"body-{i}" for i in range(95))
    assert sqs.false_empties_given > 0  # the stand-in did lie, and the drain went on
    assert drain.drained is True
    assert min(sqs.waits) >= 1  # long polls only


def test_a_count_that_never_agrees_leaves_the_queue_not_drained() -> None:
    sqs = FlakySqs(["only"], false_empty=0.0, lagging_count=3)
    drain = QueueDrain(sqs, "url", visibility_seconds=300)
    assert [m["Body"] for m in drain.messages()] == ["only"]
    assert drain.drained is False
    assert drain.visible_left == 3


def test_a_short_poll_is_refused() -> None:
    with pytest.raises(ValueError, match="short poll"):
        QueueDrain(FlakySqs([], 0), "url", visibility_seconds=30, wait_seconds=0)


def test_a_run_that_could_not_confirm_an_empty_source_is_not_complete() -> None:
    clock = FakeClock()
    source = MemorySource(waiting=[item(0, 1)])
    redrive, _ = service(source, clock, rate=100, max_attempts=3)
    original = source.items

    def never_drained(request: RedriveRequest, deadline: Deadline) -> Generator[Item, None, None]:
        yield from original(request, deadline)
        source.drained = False

    source.items = never_drained  # type: ignore[method-assign]
    report = redrive.run(RedriveRequest(), Deadline(60, clock))
    assert report.counts["overflow"]["items_redriven"] == 1
    assert (report.complete, report.stopped) == (False, "not_drained")


# --- one run at a time ----------------------------------------------------------------------------


@pytest.fixture
def attempts_table() -> Generator[Any, None, None]:
    from tests.stack import create_table

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(dynamodb, "RedriveAttemptsTable", "attempts")
        yield dynamodb


def test_a_second_run_respects_the_lease_until_it_ends(attempts_table: Any) -> None:
    now = [1_000_000.0]
    lease = RunLease(attempts_table, "attempts", clock=lambda: now[0])
    assert lease.acquire("run-a", 300) is None
    holder = lease.acquire("run-b", 300)
    assert holder is not None
    assert (holder.owner, holder.until) == ("run-a", 1_000_300.0)
    lease.release("run-b")  # not b's to give back
    assert lease.acquire("run-b", 300) is not None
    now[0] += 301  # run-a's Lambda timeout has passed: it cannot be running any more
    assert lease.acquire("run-b", 300) is None
    lease.release("run-b")
    assert lease.holder() is None


def test_a_run_that_finds_the_lease_taken_moves_nothing(attempts_table: Any) -> None:
    from tests.fakes import FakeLambdaContext

    clock = FakeClock()
    source = MemorySource(waiting=[item(0, 1)])
    redrive, kinesis = service(source, clock, rate=100, max_attempts=3)
    redrive.lease = RunLease(attempts_table, "attempts")
    assert redrive.lease.acquire("someone-else", 120) is None
    report = redrive.handle({}, FakeLambdaContext(timeout_seconds=30))
    assert report["complete"] is False
    assert report["stopped"] == "lease"
    assert report["lease_holder"].startswith("someone-else until")
    assert kinesis.calls == []
    assert len(source.waiting) == 1
    # once the holder lets go, a run goes ahead and gives the lease back at the end
    redrive.lease.release("someone-else")
    assert redrive.handle({}, FakeLambdaContext(timeout_seconds=30))["complete"] is True
    assert redrive.lease.holder() is None


def test_what_a_redrive_puts_back_says_so_and_is_otherwise_the_same_event() -> None:
    # GIVEN an item with an envelope, an aggregate of two envelopes, and a record that is no envelope
    from weir import kpl

    clock = FakeClock()
    envelopes = [{"event_id": f"a-{i}", "type": "t", "accepted_at": "2026-11-24T00:00:00.000Z"} for i in range(3)]
    aggregate = kpl.aggregate([kpl.UserRecord("k", json.dumps(e).encode()) for e in envelopes[1:]])
    source = MemorySource(waiting=[Item("overflow", "m", b"", NOW)])
    source.records = lambda item: [  # type: ignore[method-assign]
        Record(json.dumps(envelopes[0]).encode(), "k"),
        Record(aggregate, "k"),
        Record(b"\x00not json", "k"),
    ]
    redrive, kinesis = service(source, clock, rate=100, max_attempts=3)
    redrive.run(RedriveRequest(), Deadline(30, clock))
    # THEN every event it put back is marked as redriven (so it is timed apart from live events) and
    # keeps its id and its first acceptance; the record that is no envelope goes back byte for byte
    written = [data for _, data in kinesis.written]
    events = [json.loads(written[0]), *(json.loads(u.data) for u in kpl.deaggregate(written[1]))]
    assert events == [e | {"origin": "redrive"} for e in envelopes]
    assert written[2] == b"\x00not json"


def test_a_run_never_waits_for_its_rate_to_the_edge_of_its_deadline() -> None:
    # GIVEN the rate's last share ending just before this run's deadline
    clock = FakeClock()
    source = MemorySource(waiting=[item(1, 5)])
    redrive, kinesis = service(source, clock, rate=1, max_attempts=3)
    redrive.limiter._next = clock() + 24.9
    report = redrive.run(RedriveRequest(), Deadline(25, clock))
    # THEN it stops at once, the item kept, rather than wait to the edge and leave the re-put no time
    assert report.stopped == "rate"
    assert kinesis.calls == []
    assert source.waiting
    clock.now += 10
    assert redrive.run(RedriveRequest(), Deadline(25, clock)).complete
    assert source.waiting == []
