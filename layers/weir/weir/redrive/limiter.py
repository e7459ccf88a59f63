"""At most ``rate`` records per second, so a redrive never takes the live traffic's shard capacity."""

from __future__ import annotations

import time
from collections.abc import Callable

from weir.deadline import Deadline


class RateLimiter:
    def __init__(
        self, rate: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._next = clock()

    def wait_for(self, records: int, deadline: Deadline) -> bool:
        """Wait until ``records`` may be sent and take their share; False (nothing taken, nothing
        waited) when that wait would pass the deadline."""
        now = self._clock()
        start = max(now, self._next)
        if start - now > deadline.remaining():
            return False
        if start > now:
            self._sleep(start - now)
        self._next = start + records / self._rate
        return True
