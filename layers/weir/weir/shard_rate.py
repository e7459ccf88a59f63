"""Per-shard send rates that find each shard's capacity from throttling: additive increase,
multiplicative decrease.

Kinesis takes 1,000 records/s and 1 MiB/s of writes per shard and throttles the excess entry by
entry. A producer that sends whatever it has and resubmits what was throttled spends a call's worth
of entries for every throttled one, and each extra writer adds throttles, not throughput (B2). Here
each shard gets a send rate, as a share of its capacity, and a token bucket:

* a record costs its share of a second of the shard: the larger of 1/1,000 and its size/1 MiB;
* at the whole shard's rate (a writer that was never throttled, or has grown back) the bucket holds
  ``full_burst_seconds`` (one second, as the shard's own), so a request below the limit goes out
  at once, as without rates; below it, ``burst_seconds``, so writers that share a shard do not
  burst into each other;
* records of a paced shard go out once its bucket holds their cost (or half a bucket, when they cost
  more), and then while it is positive (the last may overdraw it); a shard with tokens never waits
  for one without;
* every second without a throttle adds ``increase`` to the rate (additive increase), up to the
  whole shard;
* a response with throttled entries for a shard scales its rate by the share of that shard's
  entries that got through, held between ``min_factor`` and ``max_factor`` (multiplicative
  decrease), at most once per ``hold_seconds`` (one congestion event, not one per response); every
  throttle empties the bucket.

Writers that share nothing (separate Lambda instances) converge on a fair share each, their sum
close to the shard's capacity: the additive-increase, multiplicative-decrease dynamics of TCP's
congestion control. docs/producer.md shows B2 before and after.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateSettings:
    records_per_second: float = 1000.0
    bytes_per_second: float = 1024.0 * 1024.0
    start: float = 1.0  # the share of its capacity a shard is first sent at
    floor: float = 0.01  # never slower than this share (10 records/s)
    increase: float = 0.05  # share added per second without a throttle
    min_factor: float = 0.5
    max_factor: float = 0.8
    hold_seconds: float = 0.1
    burst_seconds: float = 0.2  # the bucket holds this many seconds at the current rate...
    full_burst_seconds: float = 1.0  # ...or this many at the whole shard's rate

    def __post_init__(self) -> None:
        if not 0 < self.floor <= self.start <= 1:
            raise ValueError(f"need 0 < floor <= start <= 1, got floor {self.floor}, start {self.start}")
        if not 0 < self.min_factor <= self.max_factor < 1:
            raise ValueError("need 0 < min_factor <= max_factor < 1")
        if self.increase <= 0 or self.hold_seconds < 0 or not 0 < self.burst_seconds <= self.full_burst_seconds:
            raise ValueError(
                "increase must be positive, hold_seconds not negative, and 0 < burst_seconds <= full_burst_seconds"
            )

    def bucket(self, rate: float) -> float:
        """What a bucket holds at ``rate``: one burst's worth."""
        return rate * (self.full_burst_seconds if rate >= 1.0 else self.burst_seconds)

    def cost(self, size: int) -> float:
        """A record's share of one second of its shard."""
        return max(1.0 / self.records_per_second, size / self.bytes_per_second)


class _ShardState:
    __slots__ = ("last", "last_decrease", "rate", "tokens")

    def __init__(self, rate: float, now: float, tokens: float) -> None:
        self.rate = rate
        self.tokens = tokens
        self.last = now
        self.last_decrease = float("-inf")


class ShardRates:
    """The send rate of every shard of one stream, for one writer. Thread-safe."""

    def __init__(self, settings: RateSettings | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or RateSettings()
        self._clock = clock
        self._lock = threading.Lock()
        self._shards: dict[str, _ShardState] = {}

    def _state(self, shard_id: str, now: float) -> _ShardState:
        state = self._shards.get(shard_id)
        settings = self.settings
        if state is None:
            state = self._shards[shard_id] = _ShardState(settings.start, now, settings.bucket(settings.start))
            return state
        elapsed = now - state.last
        if elapsed > 0:
            state.rate = min(1.0, state.rate + settings.increase * elapsed)
            state.tokens = min(settings.bucket(state.rate), state.tokens + state.rate * elapsed)
            state.last = now
        return state

    def _need(self, state: _ShardState, costs: list[float]) -> float:
        """Tokens to wait for before sending: all of ``costs``, or half a bucket when they are
        more (calls of a useful size, not a trickle of one-record calls)."""
        return min(sum(costs), self.settings.bucket(state.rate) / 2)

    def take(self, shard_id: str, costs: list[float]) -> int:
        """How many of ``costs`` (in order) may be sent to ``shard_id`` now; their tokens are taken.
        None until the bucket holds what :meth:`wait` waits for; then while it is positive (the
        last record may overdraw it)."""
        with self._lock:
            state = self._state(shard_id, self._clock())
            if not costs or state.tokens < self._need(state, costs) * (1 - 1e-9):
                return 0
            taken = 0
            while taken < len(costs) and state.tokens > 0:
                state.tokens -= costs[taken]
                taken += 1
            return taken

    def wait(self, shard_id: str, costs: list[float]) -> float:
        """Seconds until ``shard_id`` may send (some of) ``costs`` (0 when it may now)."""
        with self._lock:
            state = self._state(shard_id, self._clock())
            missing = self._need(state, costs) - state.tokens
            return 0.0 if missing <= 0 else missing / state.rate + 1e-3

    def feedback(self, shard_id: str, sent: int, throttled: int) -> None:
        """What a response said of the ``sent`` entries for ``shard_id``: ``throttled`` were refused."""
        if throttled <= 0 or sent <= 0:
            return
        settings = self.settings
        with self._lock:
            now = self._clock()
            state = self._state(shard_id, now)
            state.tokens = min(state.tokens, 0.0)  # whatever the rate, the throttled entries wait
            if now - state.last_decrease < settings.hold_seconds:
                return
            factor = min(settings.max_factor, max(settings.min_factor, (sent - throttled) / sent))
            state.rate = max(settings.floor, state.rate * factor)
            state.last_decrease = now

    def rate(self, shard_id: str) -> float:
        """The shard's current send rate, as a share of its capacity."""
        with self._lock:
            return self._state(shard_id, self._clock()).rate

    def forget(self, keep: set[str]) -> None:
        """Drop the shards not in ``keep`` (closed by a reshard)."""
        with self._lock:
            for shard_id in set(self._shards) - keep:
                del self._shards[shard_id]
