"""Deadlines: a total time budget for an operation that may make several network calls.

Inside Lambda a deadline never outlives the invocation: it is the smaller of the configured
budget and the remaining time minus a safety margin (time kept back to answer, log and spill).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class Deadline:
    """A point in monotonic time after which no new work may start."""

    __slots__ = ("_clock", "_expires_at")

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expires_at = clock() + max(0.0, seconds)

    @classmethod
    def for_invocation(
        cls,
        context: LambdaContextLike | None,
        budget_seconds: float,
        safety_margin_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> Deadline:
        """The budget, shortened so that it ends ``safety_margin_seconds`` before Lambda's own timeout."""
        seconds = budget_seconds
        if context is not None:
            remaining = context.get_remaining_time_in_millis() / 1000.0 - safety_margin_seconds
            seconds = min(seconds, remaining)
        return cls(seconds, clock)

    def remaining(self) -> float:
        return max(0.0, self._expires_at - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def allows(self, seconds: float) -> bool:
        """True when an operation that may take ``seconds`` would still end inside the deadline."""
        return self.remaining() >= seconds

    def sub(self, reserve_seconds: float) -> Deadline:
        """A deadline ending ``reserve_seconds`` earlier, leaving that time for a later step."""
        child = Deadline.__new__(Deadline)
        child._clock = self._clock
        child._expires_at = self._expires_at - max(0.0, reserve_seconds)
        return child
