"""Rounds of resubmission for batch calls that succeed or fail entry by entry.

PutRecords and SendMessageBatch both answer HTTP 200 with a verdict per entry: some entries
landed, others failed (throttled, an internal error). The SDK retries neither; a caller that only
checks for exceptions loses the failed ones. :func:`resubmit` is the loop both the producer and
the overflow spiller run: send the undecided entries, keep the verdicts, send only the transient
failures again after a full-jitter backoff, each entry at most ``max_attempts`` times, and start no
call the deadline leaves no time to finish. What the deadline cuts off fails with
``DeadlineExceeded``; nothing is left undecided.

The caller owns the calls: ``send_round`` sends the entries it is given (as many requests as
their limits need), records each entry's attempt and verdict in ``outcomes``/``done``, and
returns the transient failures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from weir.backoff import Backoff
from weir.deadline import Deadline

DEADLINE_EXCEEDED = "DeadlineExceeded"


@dataclass
class EntryOutcome:
    """What happened to one entry: ``ok``, or the last error; how many times it was sent."""

    ok: bool = False
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0

    def error(self) -> str:
        return f"{self.error_code or 'Unknown'}: {self.error_message or ''}"


@dataclass(frozen=True)
class Round:
    """One round's transient failures. ``paced``: the caller has already slowed down for them
    (shard rates after per-entry throttles), so no backoff is added before the next round."""

    retry: list[int]
    paced: bool = False


@dataclass(frozen=True)
class Retries:
    """``max_attempts`` bounds how often one entry is sent (first try included)."""

    max_attempts: int = 6
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= 50:
            raise ValueError(f"max_attempts must be in [1, 50], got {self.max_attempts}")


def resubmit(
    outcomes: Sequence[EntryOutcome],
    done: list[bool],
    send_round: Callable[[list[int]], Round],
    deadline: Deadline,
    *,
    retries: Retries,
    call_seconds: float,
    sleep: Callable[[float], None],
    select: Callable[[list[int]], list[int] | None] = lambda pending: pending,
    after_round: Callable[[], None] = lambda: None,
) -> int:
    """Run rounds until every entry is decided; return how many rounds were sent.

    ``select`` picks a round's entries from the undecided ones (in order), or None when it cannot
    within the deadline; ``after_round`` may decide more entries (per-key ordering fails the
    successors of a failed record).
    """
    rounds = 0
    backoffs = 0
    while True:
        pending = [i for i, finished in enumerate(done) if not finished]
        if not pending:
            return rounds
        chosen = select(pending) if deadline.allows(call_seconds) else None
        if chosen is None:
            fail_for_deadline(pending, outcomes, done)
            return rounds
        rounds += 1
        result = send_round(chosen)
        for i in result.retry:
            outcome = outcomes[i]
            if outcome.attempts >= retries.max_attempts:
                done[i] = True
                outcome.error_message = (
                    f"gave up after {outcome.attempts} attempts; last error: {outcome.error_message}"
                )
        after_round()
        # When no call could follow the wait inside the deadline, the next round's check ends it.
        if not result.paced and any(not done[i] for i in result.retry):
            room = deadline.remaining() - call_seconds
            if room > 0:
                sleep(min(retries.backoff.delay(backoffs), room))
                backoffs += 1


def fail_for_deadline(pending: Sequence[int], outcomes: Sequence[EntryOutcome], done: list[bool]) -> None:
    for i in pending:
        outcome = outcomes[i]
        last = outcome.error_code
        outcome.error_message = f"deadline reached; last error: {last or 'none'}: {outcome.error_message}"
        outcome.error_code = DEADLINE_EXCEEDED
        done[i] = True
