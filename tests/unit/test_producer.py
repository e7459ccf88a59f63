from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes import FakeClock, FakeKinesis, client_error
from weir.backoff import Backoff
from weir.deadline import Deadline
from weir.producer import (
    PREDECESSOR_FAILED,
    KinesisLimits,
    Ordering,
    Producer,
    ProducerSettings,
    Record,
    RecordRejected,
    plan_requests,
)
from weir.resubmit import DEADLINE_EXCEEDED

PTE = "ProvisionedThroughputExceededException"


def records(n: int, keys: int = 3) -> list[Record]:
    return [Record(f"event-{i}".encode(), f"key-{i % keys}") for i in range(n)]


def make_producer(
    kinesis: FakeKinesis,
    clock: FakeClock,
    *,
    max_attempts: int = 6,
    ordering: Ordering = Ordering.NONE,
    call_seconds: float = 0.5,
    limits: KinesisLimits | None = None,
) -> Producer:
    return Producer(
        kinesis,
        "weir-events",
        call_seconds=call_seconds,
        settings=ProducerSettings(
            max_attempts=max_attempts,
            backoff=Backoff(base=0.05, cap=1.0, rng=random.Random(1)),
            ordering=ordering,
            limits=limits or KinesisLimits(),
        ),
        sleep=clock.sleep,
        clock=clock,
    )


def deadline(clock: FakeClock, seconds: float = 30.0) -> Deadline:
    return Deadline(seconds, clock)


def written_data(kinesis: FakeKinesis) -> list[bytes]:
    return [data for _, data in kinesis.written]


# --- the happy path and the exact outcome per record ------------------------------------


def test_every_record_gets_its_shard_and_sequence_number() -> None:
    clock = FakeClock()
    kinesis = FakeKinesis()
    result = make_producer(kinesis, clock).put(records(5), deadline(clock))
    assert result.all_ok
    assert [o.sequence_number for o in result.outcomes] == ["1", "2", "3", "4", "5"]
    assert all(o.shard_id == "shardId-000000000000" and o.attempts == 1 for o in result.outcomes)
    assert len(kinesis.calls) == 1
    assert result.stats.calls == 1
    assert result.stats.resubmitted_entries == 0


# --- resubmission of exactly the failed entries -----------------------------------------


def test_only_the_entries_putrecords_reports_as_failed_are_sent_again() -> None:
    # GIVEN a stream that throttles entries 1 and 3 of the first call (HTTP 200, FailedRecordCount 2)
    clock = FakeClock()

    def script(call: int, entries: Sequence[dict[str, Any]]) -> list[str | None] | None:
        return [None, PTE, None, PTE, None] if call == 0 else None

    kinesis = FakeKinesis(script)
    batch = records(5)
    # WHEN the producer writes five records
    result = make_producer(kinesis, clock).put(batch, deadline(clock))
    # THEN the second call carries exactly the two failed entries, in their order
    assert [e["Data"] for e in kinesis.calls[1]] == [batch[1].data, batch[3].data]
    # AND every record is written exactly once
    assert sorted(written_data(kinesis)) == sorted(r.data for r in batch)
    assert result.all_ok
    assert [o.attempts for o in result.outcomes] == [1, 2, 1, 2, 1]
    assert result.stats.throttled_entries == 2
    assert result.stats.resubmitted_entries == 2
    # AND it backed off once, with full jitter inside the first ceiling
    assert len(clock.sleeps) == 1
    assert 0 <= clock.sleeps[0] <= 0.05


def test_a_record_that_keeps_failing_is_sent_at_most_max_attempts_times() -> None:
    clock = FakeClock()
    kinesis = FakeKinesis(lambda call, entries: [PTE] * len(entries))
    result = make_producer(kinesis, clock, max_attempts=4).put(records(3), deadline(clock, 120))
    assert len(kinesis.calls) == 4
    assert not kinesis.written
    for outcome in result.outcomes:
        assert not outcome.ok
        assert outcome.error_code == PTE
        assert outcome.attempts == 4
        assert "gave up after 4 attempts" in (outcome.error_message or "")


def test_backoff_sleeps_grow_exponentially_within_their_ceilings() -> None:
    clock = FakeClock()
    kinesis = FakeKinesis(lambda call, entries: [PTE] * len(entries))
    make_producer(kinesis, clock, max_attempts=6).put(records(1), deadline(clock, 120))
    ceilings = [min(1.0, 0.05 * 2**n) for n in range(5)]
    assert len(clock.sleeps) == 5
    assert all(0 <= s <= c for s, c in zip(clock.sleeps, ceilings, strict=True))


@pytest.mark.parametrize(
    "error",
    [
        client_error("ProvisionedThroughputExceededException"),
        client_error("ThrottlingException"),
        client_error("InternalFailure", 500),
        ReadTimeoutError(endpoint_url="http://kinesis"),
        ConnectionClosedError(endpoint_url="http://kinesis"),
    ],
)
def test_transient_whole_call_errors_are_retried(error: Exception) -> None:
    clock = FakeClock()
    kinesis = FakeKinesis(lambda call, entries: error if call < 2 else None)
    result = make_producer(kinesis, clock).put(records(4), deadline(clock))
    assert result.all_ok
    assert len(kinesis.calls) == 3
    assert len(kinesis.written) == 4
    assert result.stats.whole_call_errors == 2


@pytest.mark.parametrize(
    "code",
    [
        "ValidationException",
        "AccessDeniedException",
        "KMSDisabledException",
        "KMSNotFoundException",
        "ResourceNotFoundException",
    ],
)
def test_permanent_whole_call_errors_are_not_retried(code: str) -> None:
    clock = FakeClock()
    kinesis = FakeKinesis(lambda call, entries: client_error(code))
    result = make_producer(kinesis, clock).put(records(4), deadline(clock))
    assert len(kinesis.calls) == 1
    assert clock.sleeps == []
    assert all(o.error_code == code and o.attempts == 1 and not o.ok for o in result.outcomes)


def test_an_unknown_per_entry_error_code_is_not_retried() -> None:
    clock = FakeClock()
    kinesis = FakeKinesis(lambda call, entries: ["KMSDisabledException", None])
    result = make_producer(kinesis, clock).put(records(2), deadline(clock))
    assert len(kinesis.calls) == 1
    assert result.outcomes[0].error_code == "KMSDisabledException"
    assert result.outcomes[1].ok


def test_a_response_with_the_wrong_number_of_results_retries_the_whole_request() -> None:
    class Truncating(FakeKinesis):
        def put_records(self, Records: list[dict[str, Any]], **stream: str) -> dict[str, Any]:
            response = super().put_records(Records, **stream)
            if len(self.calls) == 1:
                response["Records"] = response["Records"][:-1]
            return response

    clock = FakeClock()
    kinesis = Truncating()
    result = make_producer(kinesis, clock).put(records(3), deadline(clock))
    assert result.all_ok
    assert len(kinesis.calls) == 2
    assert len(kinesis.calls[1]) == 3


# --- deadlines ------------------------------------------------------------------------


def test_no_call_starts_that_could_end_after_the_deadline() -> None:
    # GIVEN calls that take 0.5 s (the worst case the producer plans for) and a 2 s deadline
    clock = FakeClock()
    kinesis = FakeKinesis(lambda call, entries: [PTE] * len(entries), clock=clock, call_seconds=0.5)
    started = clock.now
    # WHEN every call is throttled
    result = make_producer(kinesis, clock, max_attempts=50, call_seconds=0.5).put(records(2), deadline(clock, 2.0))
    # THEN the producer stops within its deadline, and says so for every record
    assert clock.now - started <= 2.0
    assert all(o.error_code == DEADLINE_EXCEEDED for o in result.outcomes)
    assert all("last error: ProvisionedThroughputExceededException" in (o.error_message or "") for o in result.outcomes)


def test_an_expired_deadline_makes_no_call() -> None:
    clock = FakeClock()
    kinesis = FakeKinesis()
    result = make_producer(kinesis, clock).put(records(2), deadline(clock, 0.1))
    assert kinesis.calls == []
    assert all(o.error_code == DEADLINE_EXCEEDED and o.attempts == 0 for o in result.outcomes)


def test_deadline_inside_lambda_keeps_a_safety_margin() -> None:
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 3000

    clock = FakeClock()
    assert Deadline.for_invocation(Context(), 10.0, 0.5, clock).remaining() == pytest.approx(2.5)
    assert Deadline.for_invocation(Context(), 1.0, 0.5, clock).remaining() == pytest.approx(1.0)
    assert Deadline.for_invocation(None, 1.0, 0.5, clock).remaining() == pytest.approx(1.0)


# --- limits, before any call ------------------------------------------------------------


def test_an_oversize_record_is_refused_before_any_call() -> None:
    clock = FakeClock()
    kinesis = FakeKinesis()
    limits = KinesisLimits(max_record_bytes=1024 * 1024)
    too_big = Record(b"x" * (1024 * 1024 - 2), "abc")  # 1 MiB + 1 byte with its partition key
    with pytest.raises(RecordRejected, match=r"record 1: record is 1048577 bytes .* at most 1048576"):
        make_producer(kinesis, clock, limits=limits).put([records(1)[0], too_big], deadline(clock))
    assert kinesis.calls == []


def test_a_record_exactly_at_the_limit_is_accepted() -> None:
    clock = FakeClock()
    kinesis = FakeKinesis()
    exact = Record(b"x" * (1024 * 1024 - 3), "abc")
    assert make_producer(kinesis, clock).put([exact], deadline(clock)).all_ok


@pytest.mark.parametrize(("key", "reason"), [("", "0 characters"), ("k" * 257, "257 characters")])
def test_a_bad_partition_key_is_refused_before_any_call(key: str, reason: str) -> None:
    clock = FakeClock()
    kinesis = FakeKinesis()
    with pytest.raises(RecordRejected, match=reason):
        make_producer(kinesis, clock).put([Record(b"x", key)], deadline(clock))
    assert kinesis.calls == []


def test_partition_key_limit_counts_characters_not_bytes() -> None:
    clock = FakeClock()
    key = "é" * 256  # 256 characters, 512 bytes
    assert make_producer(FakeKinesis(), clock).put([Record(b"x", key)], deadline(clock)).all_ok


record_strategy = st.builds(
    Record,
    data=st.binary(min_size=0, max_size=3000),
    partition_key=st.text(min_size=1, max_size=8, alphabet=st.characters(codec="utf-8")),
)


@given(
    batch=st.lists(record_strategy, max_size=1200),
    max_entries=st.integers(min_value=1, max_value=500),
    max_request_bytes=st.integers(min_value=4000, max_value=50_000),
)
def test_any_list_of_records_becomes_valid_requests_in_order(
    batch: list[Record], max_entries: int, max_request_bytes: int
) -> None:
    limits = KinesisLimits(max_entries=max_entries, max_request_bytes=max_request_bytes, max_record_bytes=3100)
    requests = plan_requests(list(enumerate(batch)), limits)
    # nothing lost, nothing duplicated, order kept
    assert [i for request in requests for i, _ in request] == list(range(len(batch)))
    for request in requests:
        assert 1 <= len(request) <= max_entries
        assert sum(r.size for _, r in request) <= max_request_bytes
    # and requests are full: a request is only cut when the next record would not fit
    for request, following in itertools.pairwise(requests):
        next_size = following[0][1].size
        assert len(request) == max_entries or sum(r.size for _, r in request) + next_size > max_request_bytes


def test_requests_are_cut_at_500_entries_and_10_mib() -> None:
    many_small = [(i, Record(b"x", "k")) for i in range(1201)]
    assert [len(r) for r in plan_requests(many_small, KinesisLimits())] == [500, 500, 201]
    big = [(i, Record(b"x" * (1024 * 1024 - 1), "k")) for i in range(25)]  # exactly 1 MiB each
    assert [len(r) for r in plan_requests(big, KinesisLimits())] == [10, 10, 5]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=700),
    failure_rate=st.floats(min_value=0, max_value=0.7),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_with_random_partial_failures_every_record_is_written_exactly_once(
    n: int, failure_rate: float, seed: int
) -> None:
    rng = random.Random(seed)

    def script(call: int, entries: Sequence[dict[str, Any]]) -> list[str | None]:
        return [(PTE if rng.random() < failure_rate else None) for _ in entries]

    clock = FakeClock()
    kinesis = FakeKinesis(script)
    batch = [Record(f"{i}".encode(), f"k{i % 7}") for i in range(n)]
    result = make_producer(kinesis, clock, max_attempts=50).put(batch, deadline(clock, 3600))
    written = Counter(written_data(kinesis))
    for record, outcome in zip(batch, result.outcomes, strict=True):
        # exactly once when it succeeded, never when it did not; never nowhere without an error
        assert written[record.data] == (1 if outcome.ok else 0)
        assert outcome.ok or outcome.error_code
    assert sum(written.values()) == sum(o.ok for o in result.outcomes)


# --- ordering -------------------------------------------------------------------------


def first_call_throttles_the_first_entry(call: int, entries: Sequence[dict[str, Any]]) -> list[str | None] | None:
    return [PTE] + [None] * (len(entries) - 1) if call == 0 else None


def test_without_ordering_a_resubmitted_record_lands_after_a_later_one_of_its_key() -> None:
    # This is the documented cost of ordering "none": AWS-FACTS "a resubmitted record lands after".
    clock = FakeClock()
    kinesis = FakeKinesis(first_call_throttles_the_first_entry)
    batch = [Record(b"a1", "a"), Record(b"a2", "a"), Record(b"b1", "b")]
    make_producer(kinesis, clock).put(batch, deadline(clock))
    assert written_data(kinesis) == [b"a2", b"b1", b"a1"]


def test_per_key_ordering_keeps_each_keys_records_in_order_through_resubmission() -> None:
    clock = FakeClock()
    kinesis = FakeKinesis(first_call_throttles_the_first_entry)
    batch = [Record(b"a1", "a"), Record(b"a2", "a"), Record(b"b1", "b"), Record(b"a3", "a"), Record(b"b2", "b")]
    result = make_producer(kinesis, clock, ordering=Ordering.PER_KEY).put(batch, deadline(clock))
    assert result.all_ok
    by_key: dict[str, list[bytes]] = defaultdict(list)
    for key, data in kinesis.written:
        by_key[key].append(data)
    assert by_key == {"a": [b"a1", b"a2", b"a3"], "b": [b"b1", b"b2"]}
    # at most one record of a key in any request
    for call in kinesis.calls:
        keys = [e["PartitionKey"] for e in call]
        assert len(keys) == len(set(keys))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=120),
    keys=st.integers(min_value=1, max_value=6),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_per_key_ordering_holds_under_random_failures(n: int, keys: int, seed: int) -> None:
    rng = random.Random(seed)
    clock = FakeClock()
    kinesis = FakeKinesis(lambda call, entries: [(PTE if rng.random() < 0.3 else None) for _ in entries])
    batch = [Record(f"{i}".encode(), f"k{i % keys}") for i in range(n)]
    result = make_producer(kinesis, clock, ordering=Ordering.PER_KEY, max_attempts=8).put(batch, deadline(clock, 3600))
    by_key: dict[str, list[int]] = defaultdict(list)
    for key, data in kinesis.written:
        by_key[key].append(int(data))
    for written in by_key.values():
        assert written == sorted(written)
    # a key's records stop at its first final failure: later ones are not written either
    for i, outcome in enumerate(result.outcomes):
        if not outcome.ok:
            later_same_key = [j for j in range(i + 1, n) if batch[j].partition_key == batch[i].partition_key]
            assert all(not result.outcomes[j].ok for j in later_same_key)


def test_per_key_ordering_fails_the_successors_of_a_record_that_failed_for_good() -> None:
    clock = FakeClock()
    kinesis = FakeKinesis(lambda call, entries: [PTE if e["Data"] == b"a1" else None for e in entries])
    batch = [Record(b"a1", "a"), Record(b"a2", "a"), Record(b"b1", "b")]
    result = make_producer(kinesis, clock, ordering=Ordering.PER_KEY, max_attempts=3).put(batch, deadline(clock))
    assert written_data(kinesis) == [b"b1"]
    assert result.outcomes[0].error_code == PTE
    assert result.outcomes[1].error_code == PREDECESSOR_FAILED
    assert result.outcomes[1].attempts == 0
    assert result.outcomes[2].ok


def test_a_stream_arn_is_sent_as_streamarn() -> None:
    calls: list[dict[str, str]] = []

    class Recording(FakeKinesis):
        def put_records(self, Records: list[dict[str, Any]], **stream: str) -> dict[str, Any]:
            calls.append(stream)
            return super().put_records(Records, **stream)

    clock = FakeClock()
    arn = "arn:aws:kinesis:us-east-1:111122223333:stream/weir-events"
    Producer(Recording(), arn, call_seconds=1, sleep=clock.sleep, clock=clock).put(records(1), deadline(clock))
    assert calls == [{"StreamARN": arn}]
