"""What a stream event source mapping does with a batch, as AWS documents and was recorded doing it:
pure functions of the batch, the mapping's settings and the function's answer, with no I/O and no clock
of their own, so each rule is unit-tested against the recorded scenarios (tests/unit/test_esm_rules.py).

After an invocation (:func:`first_to_retry`):

* success, no ``batchItemFailures``: checkpoint after the batch;
* ``batchItemFailures`` (with ``ReportBatchItemFailures``): checkpoint before the lowest reported record.
  An empty, missing or unknown ``itemIdentifier`` fails the whole batch (recorded); so does a tumbling
  window's answer without ``state``.

Then (:class:`BatchPlan`):

* when the checkpoint moved, the rest is a **new batch**, with its own retries and invoke count
  (recorded: a batch of 3 whose last record always fails delivers it 1 + 4 times with
  ``MaximumRetryAttempts`` 3, and reports ``approximateInvokeCount`` 4);
* a function error with ``BisectBatchOnFunctionError`` splits a batch of more than one record in two,
  each half a new batch (not counted as a retry); otherwise, or for one record, a retry;
* retries past ``MaximumRetryAttempts``: the batch goes to the on-failure destination
  (``RetryAttemptsExhausted``, its invoke count);
* records older than ``MaximumRecordAgeInSeconds`` leave the front of the batch for the destination
  (``RecordAgeExceeded``) before any invocation, with an invoke count of at least 1 although the
  function may never have seen them (recorded), and the rest is delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

R = TypeVar("R")
RETRY_BACKOFF_SECONDS = 0.05
RETRY_BACKOFF_MAX_SECONDS = 1.0


@dataclass(frozen=True)
class BatchRules:
    max_retries: int  # MaximumRetryAttempts; -1: until the records expire
    max_record_age: float  # MaximumRecordAgeInSeconds; -1: never
    bisect: bool  # BisectBatchOnFunctionError


def first_to_retry(
    identities: Sequence[str],
    ok: bool,
    payload: Any,
    *,
    report_item_failures: bool,
    needs_state: bool = False,
) -> int | None:
    """The index of the first record to deliver again, or None when the batch succeeded.

    ``identities`` are the batch's item identifiers in order; ``ok`` is False for a function error or
    timeout; ``needs_state`` for a tumbling window, whose answer must carry ``state``.
    """
    if not ok:
        return 0
    if needs_state and not (isinstance(payload, dict) and "state" in payload):
        return 0  # "If the response does not contain a state property, Lambda considers this a failed invocation"
    if not report_item_failures or not isinstance(payload, dict):
        return None
    failures = payload.get("batchItemFailures")
    if not failures:
        return None
    positions = {identity: i for i, identity in enumerate(identities)}
    indexes = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in positions:
            return 0  # an empty, missing or unknown itemIdentifier fails the whole batch
        indexes.append(positions[identifier])
    return min(indexes)


@dataclass(frozen=True)
class Step(Generic[R]):
    """What happened to the batch after one answer, for the mapping to act on and count."""

    processed: int = 0  # records checkpointed past
    bisected: bool = False
    retried: bool = False
    exhausted: Sequence[R] = ()  # to the destination, RetryAttemptsExhausted
    invokes: int = 0  # the exhausted batch's invoke count
    wait: float = 0.0  # before the next invocation


@dataclass(frozen=True)
class Expired(Generic[R]):
    records: Sequence[R]
    invokes: int  # approximateInvokeCount: at least 1


class BatchPlan(Generic[R]):
    """A batch and what is left of it: ``current`` is invoked next until ``done``."""

    def __init__(self, batch: Sequence[R], rules: BatchRules) -> None:
        self.rules = rules
        self.pending: list[Sequence[R]] = [batch] if batch else []
        self.retries = 0
        self.invokes = 0  # of the current batch: a checkpoint or a bisection starts a new one

    @property
    def done(self) -> bool:
        return not self.pending

    @property
    def current(self) -> Sequence[R]:
        return self.pending[0]

    def _next(self) -> None:
        self.pending.pop(0)
        self.retries = self.invokes = 0

    def expire(self, now: float, arrival: Callable[[R], float]) -> Expired[R] | None:
        """Take the current batch's records older than the maximum age off its front (arrival only
        grows along a shard, so they are a prefix); None when none is."""
        if self.rules.max_record_age < 0 or self.done:
            return None
        cutoff = now - self.rules.max_record_age
        current = self.current
        count = 0
        while count < len(current) and arrival(current[count]) < cutoff:
            count += 1
        if not count:
            return None
        expired = Expired(current[:count], max(1, self.invokes))
        if count == len(current):
            self._next()
        else:
            self.pending[0] = current[count:]
        return expired

    def answered(self, failed_from: int | None, function_error: bool) -> Step[R]:
        """The current batch was invoked once and answered: ``failed_from`` from :func:`first_to_retry`."""
        self.invokes += 1
        current = self.current
        if failed_from is None:
            self._next()
            return Step(processed=len(current))
        if function_error and self.rules.bisect and len(current) > 1:
            half = len(current) // 2
            self.pending[0:1] = [current[:half], current[half:]]
            self.invokes = 0
            return Step(bisected=True)
        if failed_from > 0:  # the checkpoint moved: the rest is a new batch
            self.pending[0] = current[failed_from:]
            self.retries = self.invokes = 0
            return Step(processed=failed_from)
        self.retries += 1
        if 0 <= self.rules.max_retries < self.retries:
            invokes = self.invokes
            self._next()
            return Step(retried=True, exhausted=current, invokes=invokes)
        return Step(retried=True, wait=min(RETRY_BACKOFF_SECONDS * self.retries, RETRY_BACKOFF_MAX_SECONDS))
