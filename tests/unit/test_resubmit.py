"""The resubmission rounds shared by the producer and the overflow spiller (weir.resubmit)."""

from __future__ import annotations

import random

import pytest

from tests.fakes import FakeClock
from weir.backoff import Backoff
from weir.deadline import Deadline
from weir.resubmit import DEADLINE_EXCEEDED, EntryOutcome, Retries, Round, resubmit


class Batch:
    """Entries whose fate per attempt is scripted: "ok", "transient" or "permanent"."""

    def __init__(self, fates: list[list[str]], clock: FakeClock, call_seconds: float = 0.1) -> None:
        self.fates = fates
        self.clock = clock
        self.call_seconds = call_seconds
        self.outcomes = [EntryOutcome() for _ in fates]
        self.done = [False] * len(fates)
        self.sent: list[list[int]] = []

    def send_round(self, chosen: list[int]) -> Round:
        self.sent.append(list(chosen))
        self.clock.now += self.call_seconds
        retry = []
        for i in chosen:
            outcome = self.outcomes[i]
            fate = self.fates[i][min(outcome.attempts, len(self.fates[i]) - 1)]
            outcome.attempts += 1
            outcome.ok = fate == "ok"
            outcome.error_code = None if outcome.ok else fate
            outcome.error_message = None if outcome.ok else f"{fate} on attempt {outcome.attempts}"
            if fate == "transient":
                retry.append(i)
            else:
                self.done[i] = True
        return Round(retry)


def run(batch: Batch, seconds: float = 60.0, max_attempts: int = 4, **kwargs: object) -> int:
    return resubmit(
        batch.outcomes,
        batch.done,
        kwargs.pop("send_round", batch.send_round),  # type: ignore[arg-type]
        Deadline(seconds, batch.clock),
        retries=Retries(max_attempts, Backoff(0.05, 1.0, random.Random(7))),
        call_seconds=batch.call_seconds,
        sleep=batch.clock.sleep,
        **kwargs,  # type: ignore[arg-type]
    )


def test_only_the_transient_failures_are_sent_again_until_they_land() -> None:
    clock = FakeClock()
    batch = Batch([["ok"], ["transient", "ok"], ["permanent"], ["transient", "transient", "ok"]], clock)
    rounds = run(batch)
    assert batch.sent == [[0, 1, 2, 3], [1, 3], [3]]
    assert rounds == 3
    assert [o.ok for o in batch.outcomes] == [True, True, False, True]
    assert batch.outcomes[2].error_code == "permanent"
    assert batch.outcomes[2].attempts == 1
    assert all(batch.done)
    assert len(clock.sleeps) == 2  # a backoff before each resubmission, none after the last round


def test_an_entry_is_sent_at_most_max_attempts_times_and_says_it_gave_up() -> None:
    clock = FakeClock()
    batch = Batch([["transient"], ["ok"]], clock)
    run(batch, max_attempts=3)
    assert batch.outcomes[0].attempts == 3
    assert batch.outcomes[0].error_code == "transient"
    assert batch.outcomes[0].error_message == "gave up after 3 attempts; last error: transient on attempt 3"
    assert all(batch.done)


def test_backoff_delays_are_full_jitter_within_the_ceilings() -> None:
    clock = FakeClock()
    run(Batch([["transient"]], clock), max_attempts=6)
    ceilings = [min(1.0, 0.05 * 2**k) for k in range(5)]
    assert len(clock.sleeps) == 5
    assert all(0 <= slept <= ceiling for slept, ceiling in zip(clock.sleeps, ceilings, strict=True))


def test_a_paced_round_is_resent_without_backoff() -> None:
    clock = FakeClock()
    batch = Batch([["transient", "ok"]], clock)

    def paced(chosen: list[int]) -> Round:
        return Round(batch.send_round(chosen).retry, paced=True)

    run(batch, send_round=paced)
    assert batch.outcomes[0].ok
    assert clock.sleeps == []


def test_the_deadline_fails_what_is_undecided_and_starts_no_call_it_cannot_finish() -> None:
    clock = FakeClock()
    batch = Batch([["transient"], ["ok"]], clock, call_seconds=0.4)
    run(batch, seconds=1.0, max_attempts=50)
    assert batch.outcomes[1].ok
    failed = batch.outcomes[0]
    assert failed.error_code == DEADLINE_EXCEEDED
    assert failed.error_message is not None
    assert failed.error_message.startswith("deadline reached; last error: transient")
    assert clock.now - 1000.0 <= 1.0  # every call it started ended inside the deadline
    assert all(batch.done)


def test_no_time_for_a_call_sends_nothing() -> None:
    clock = FakeClock()
    batch = Batch([["ok"]], clock, call_seconds=2.0)
    assert run(batch, seconds=1.0) == 0
    assert batch.sent == []
    assert batch.outcomes[0].error_code == DEADLINE_EXCEEDED
    assert batch.outcomes[0].attempts == 0


def test_select_chooses_each_round_and_none_ends_it_for_the_deadline() -> None:
    clock = FakeClock()
    batch = Batch([["ok"], ["ok"], ["ok"]], clock)
    chosen_rounds: list[list[int]] = []

    def one_at_a_time(pending: list[int]) -> list[int] | None:
        chosen_rounds.append(pending)
        return None if len(chosen_rounds) == 3 else pending[:1]

    run(batch, select=one_at_a_time)
    assert batch.sent == [[0], [1]]
    assert [o.ok for o in batch.outcomes] == [True, True, False]
    assert batch.outcomes[2].error_code == DEADLINE_EXCEEDED


def test_after_round_may_decide_entries_that_are_then_not_sent() -> None:
    clock = FakeClock()
    batch = Batch([["permanent"], ["ok"]], clock)

    def only_first(pending: list[int]) -> list[int]:
        return pending[:1]

    def fail_the_rest() -> None:
        if batch.done[0] and not batch.outcomes[0].ok:
            batch.done[1] = True
            batch.outcomes[1].error_code = "predecessor"

    run(batch, select=only_first, after_round=fail_the_rest)
    assert batch.sent == [[0]]
    assert batch.outcomes[1].error_code == "predecessor"
    assert batch.outcomes[1].attempts == 0


@pytest.mark.parametrize("bound", [0, 51])
def test_a_bound_out_of_range_is_refused(bound: int) -> None:
    with pytest.raises(ValueError, match=r"max_attempts must be in \[1, 50\]"):
        Retries(bound)
