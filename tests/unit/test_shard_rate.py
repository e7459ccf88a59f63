"""Shard rates: independent writers converge near each shard's capacity, fairly, on a fake clock; a
hot shard never holds back a cold one's records; deadlines and reshards still hold in the producer."""

from __future__ import annotations

import random
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fakes import FakeClock, ShardedKinesis
from weir.backoff import Backoff
from weir.deadline import Deadline
from weir.producer import Producer, ProducerSettings, Record
from weir.resubmit import DEADLINE_EXCEEDED
from weir.shard_rate import RateSettings, ShardRates

CAPACITY = 1000.0


def simulate(writers: int, seconds: float, settings: RateSettings | None = None, seed: int = 7) -> dict[str, Any]:
    """``writers`` that share nothing, each with its own rates, always with records to send, against
    one shard of CAPACITY records/s whose bucket holds one second; a call takes 20 ms."""
    rng = random.Random(seed)
    now = [0.0]
    rates = [ShardRates(settings, clock=lambda: now[0]) for _ in range(writers)]
    tokens, last = CAPACITY, 0.0
    next_call = [rng.uniform(0, 0.05) for _ in range(writers)]
    sent = [0] * writers
    written = [0] * writers
    window_start = seconds / 2  # the second half: after convergence
    window_written = [0] * writers
    window_sent = 0
    while True:
        writer = min(range(writers), key=next_call.__getitem__)
        t = next_call[writer]
        if t > seconds:
            break
        now[0] = t
        tokens, last = min(CAPACITY, tokens + (t - last) * CAPACITY), t
        count = rates[writer].take("shard", [1 / CAPACITY] * 500)
        if count == 0:
            next_call[writer] = t + rates[writer].wait("shard", [1 / CAPACITY] * 500)
            continue
        admitted = min(count, int(tokens))
        tokens -= admitted
        sent[writer] += count
        written[writer] += admitted
        if t >= window_start:
            window_written[writer] += admitted
            window_sent += count
        now[0] = t + 0.02
        rates[writer].feedback("shard", count, count - admitted)
        next_call[writer] = t + 0.02
    total = sum(window_written)
    return {
        "goodput": total / (seconds - window_start) / CAPACITY,
        "amplification": window_sent / max(1, total),
        "run_amplification": sum(sent) / max(1, sum(written)),
        "fairness": total**2 / (writers * sum(w * w for w in window_written)),  # Jain's index
    }


@pytest.mark.parametrize("writers", [1, 2, 8, 16])
def test_independent_writers_converge_near_the_shard_capacity_and_share_it_fairly(writers: int) -> None:
    figures = simulate(writers, seconds=60)
    assert figures["goodput"] >= 0.95
    assert figures["amplification"] <= 1.3
    assert figures["run_amplification"] <= 1.3  # the first seconds included
    assert figures["fairness"] >= 0.9


def test_without_rates_the_same_writers_resend_most_entries() -> None:
    """The baseline the rates are for: a writer that sends at full speed whatever was throttled."""
    always_full = RateSettings(increase=1e9, min_factor=0.99, max_factor=0.99)  # never slows down
    assert simulate(8, seconds=20, settings=always_full)["amplification"] > 3


def test_a_throttle_scales_the_rate_by_the_share_that_got_through_once_per_congestion_event() -> None:
    clock = FakeClock(0.0)
    rates = ShardRates(RateSettings(hold_seconds=0.3, min_factor=0.1, max_factor=0.8), clock)
    one = [1 / 1000]
    assert rates.rate("s") == 1.0
    rates.feedback("s", sent=100, throttled=75)  # a quarter got through
    assert rates.rate("s") == pytest.approx(0.25)
    rates.feedback("s", sent=100, throttled=100)  # the same congestion event: no second cut
    assert rates.rate("s") == pytest.approx(0.25)
    clock.sleep(0.3)
    assert rates.rate("s") == pytest.approx(0.25 + 0.3 * rates.settings.increase)
    rates.feedback("s", sent=100, throttled=1)  # a light throttle still cuts by max_factor
    assert rates.rate("s") == pytest.approx((0.25 + 0.3 * rates.settings.increase) * 0.8)
    assert rates.wait("s", one) > 0  # the bucket was emptied: the throttled entries wait
    assert rates.take("s", one) == 0


def test_a_large_record_costs_its_share_of_the_bytes_limit() -> None:
    settings = RateSettings()
    assert settings.cost(100) == pytest.approx(1 / 1000)
    assert settings.cost(512 * 1024) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "bad",
    [{"floor": 0}, {"start": 1.5}, {"min_factor": 0}, {"max_factor": 1}, {"increase": 0}, {"burst_seconds": 0}],
)
def test_settings_that_cannot_work_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        RateSettings(**bad)


# --- in the producer ----------------------------------------------------------------------


def paced_producer(kinesis: Any, clock: FakeClock, max_attempts: int = 6) -> Producer:
    return Producer(
        kinesis,
        "weir-events",
        call_seconds=0.5,
        settings=ProducerSettings(
            max_attempts=max_attempts, backoff=Backoff(rng=random.Random(1)), rates=RateSettings()
        ),
        sleep=clock.sleep,
        clock=clock,
    )


def keyed_records(kinesis: ShardedKinesis, shard_id: str, count: int, tag: str) -> list[Record]:
    """``count`` records whose partition keys all land on ``shard_id``."""
    found: list[Record] = []
    n = 0
    while len(found) < count:
        key = f"{tag}-{n}"
        n += 1
        if kinesis.shard_of(key) == shard_id:
            found.append(Record(key.encode(), key))
    return found


def test_records_of_a_cold_shard_never_wait_for_a_hot_one() -> None:
    clock = FakeClock(0.0)
    kinesis = ShardedKinesis(clock, shards=2)
    hot, cold = (s.shard_id for s in kinesis.shards)
    kinesis.capacity[hot] = 100.0  # other writers take the rest of it
    producer = paced_producer(kinesis, clock)
    cold_records = keyed_records(kinesis, cold, 150, "cold")
    hot_records = keyed_records(kinesis, hot, 600, "hot")
    mixed = [r for pair in zip(hot_records, cold_records, strict=False) for r in pair] + hot_records[150:]

    result = producer.put(mixed, Deadline(60, clock))

    assert result.all_ok
    assert {kinesis.first_sent[r.partition_key] for r in cold_records} == {0.0}  # all in the first call
    cold_entries = [k for _, shard, k in kinesis.written if shard == cold]
    assert len(cold_entries) == 150  # and none of them throttled or resent
    assert result.stats.rate_waits > 0  # the hot shard's records waited, client-side
    # The first call finds out how hot the shard is (its capacity is nobody's to know); after it,
    # the hot shard's records are paced, not thrown at it again.
    after_first_call = [t for t in kinesis.throttled_at if t > 0.0]
    assert len(after_first_call) <= 0.3 * len(hot_records)


def test_one_writer_at_twice_the_limit_is_paced_instead_of_throttled() -> None:
    clock = FakeClock(0.0)
    kinesis = ShardedKinesis(clock, shards=2)
    producer = paced_producer(kinesis, clock)
    rng = random.Random(3)
    written = 0
    while clock() < 20:
        batch = [Record(b"x", f"k{rng.random()}") for _ in range(250)]
        result = producer.put(batch, Deadline(10, clock))
        written += sum(o.ok for o in result.outcomes)
        assert result.all_ok
    assert written / clock() >= 0.95 * 2 * CAPACITY
    assert kinesis.entries_sent / written <= 1.3


def test_a_deadline_the_rate_cannot_meet_fails_the_rest_without_sleeping_past_it() -> None:
    clock = FakeClock(0.0)
    kinesis = ShardedKinesis(clock, shards=1, capacity=50.0)
    producer = paced_producer(kinesis, clock)
    started = clock()
    result = producer.put([Record(b"x", f"k{i}") for i in range(500)], Deadline(2, clock))
    assert clock() - started <= 2
    assert 0 < sum(o.ok for o in result.outcomes) < 500
    assert {o.error_code for o in result.outcomes if not o.ok} == {DEADLINE_EXCEEDED}


def test_a_put_that_lands_on_an_unknown_shard_lists_the_shards_again_at_most_once_a_second() -> None:
    clock = FakeClock(0.0)
    kinesis = ShardedKinesis(clock, shards=2, capacity=1e9)
    producer = paced_producer(kinesis, clock)
    producer.put([Record(b"x", "a")], Deadline(10, clock))
    assert kinesis.list_calls == 1
    # a split the producer has not seen: four shards now
    kinesis.shards = ShardedKinesis(clock, shards=4).shards
    kinesis.capacity = {s.shard_id: 1e9 for s in kinesis.shards}
    kinesis._tokens = dict(kinesis.capacity)
    keys = [f"k{i}" for i in range(50)]
    for _ in range(5):
        assert producer.put([Record(b"x", k) for k in keys], Deadline(10, clock)).all_ok
    assert kinesis.list_calls == 1  # within the second, the stale map is kept
    clock.sleep(1.0)
    producer.put([Record(b"x", k) for k in keys], Deadline(10, clock))
    assert kinesis.list_calls == 2
    calls = kinesis.list_calls
    producer.put([Record(b"x", k) for k in keys], Deadline(10, clock))
    clock.sleep(2.0)
    producer.put([Record(b"x", k) for k in keys], Deadline(10, clock))
    assert kinesis.list_calls == calls  # the new map predicts every shard: nothing to refresh


def test_without_a_shard_map_records_go_out_unpaced() -> None:
    clock = FakeClock(0.0)
    kinesis = ShardedKinesis(clock, shards=1, capacity=1e9)

    def denied(**_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListShards")

    kinesis.list_shards = denied  # type: ignore[method-assign]
    result = paced_producer(kinesis, clock).put([Record(b"x", f"k{i}") for i in range(500)], Deadline(10, clock))
    assert result.all_ok
    assert result.stats.rate_waits == 0


def test_a_whole_call_refused_with_a_throttle_backs_off_instead_of_pacing() -> None:
    """A call refused as a whole (a 400 ProvisionedThroughputExceededException, no entries) tells the
    rates nothing about any shard: the producer backs off between attempts, as without rates."""
    clock = FakeClock(0.0)
    kinesis = ShardedKinesis(clock, shards=2, capacity=1e9)
    calls: list[float] = []

    def refused(**_: Any) -> dict[str, Any]:
        calls.append(clock())
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}}, "PutRecords"
        )

    kinesis.put_records = refused  # type: ignore[method-assign,assignment]
    result = paced_producer(kinesis, clock).put([Record(b"x", f"k{i}") for i in range(10)], Deadline(30, clock))
    assert not any(o.ok for o in result.outcomes)
    assert len(calls) == 6  # max_attempts
    assert len(clock.sleeps) >= len(calls) - 1  # a backoff sleep before every retry
