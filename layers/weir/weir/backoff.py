"""Exponential backoff with full jitter.

Full jitter (sleep = uniform(0, min(cap, base * 2**attempt))) spreads retries of many clients
that failed together, which is what a throttled shard needs: see the AWS Architecture Blog post
"Exponential Backoff And Jitter".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff.

    ``base`` is the ceiling of the first delay, ``cap`` bounds every delay. ``rng`` is injectable
    so tests can check the bounds without sleeping.
    """

    base: float = 0.05
    cap: float = 2.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base <= 0:
            raise ValueError(f"backoff base must be > 0 seconds, got {self.base}")
        if self.cap < self.base:
            raise ValueError(f"backoff cap ({self.cap}) must be >= base ({self.base})")

    def ceiling(self, retry: int) -> float:
        """The largest delay allowed before retry number ``retry`` (0 for the first retry)."""
        if retry < 0:
            raise ValueError(f"retry number must be >= 0, got {retry}")
        # 2**retry overflows float for absurd retry numbers; the cap is reached long before.
        return min(self.cap, self.base * float(2 ** min(retry, 62)))

    def delay(self, retry: int) -> float:
        """A random delay in [0, ceiling(retry)]."""
        return self.rng.uniform(0.0, self.ceiling(retry))
