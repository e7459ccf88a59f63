"""Kinesis per-shard write limits, applied by the local endpoint as AWS applies them.

Each shard takes 1 MiB/s or 1,000 records/s of writes, whichever is hit first; the shard is the
one whose hash-key range holds the MD5 of the partition key (or the explicit hash key). An entry
over the limit fails inside a 200 PutRecords response with ProvisionedThroughputExceededException.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from weir.shards import Shard

MIB = 1024 * 1024
RECORDS_PER_SECOND = 1000
BYTES_PER_SECOND = 1 * MIB


class TokenBucket:
    """Refills at ``rate`` per second up to ``capacity`` (one second's worth)."""

    __slots__ = ("_clock", "capacity", "last", "rate", "tokens")

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = rate
        self.tokens = rate
        self._clock = clock
        self.last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now

    def has(self, amount: float) -> bool:
        self._refill()
        return self.tokens >= amount

    def take(self, amount: float) -> None:
        self.tokens -= amount


class ShardWriteLimiter:
    """Admits or throttles PutRecords entries per shard. Thread-safe."""

    def __init__(
        self,
        records_per_second: float = RECORDS_PER_SECOND,
        bytes_per_second: float = BYTES_PER_SECOND,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.records_per_second = records_per_second
        self.bytes_per_second = bytes_per_second
        self.enabled = enabled
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[TokenBucket, TokenBucket]] = {}
        self.throttled = 0
        self.admitted = 0

    def configure(self, records_per_second: float, bytes_per_second: float, enabled: bool) -> None:
        with self._lock:
            self.records_per_second = records_per_second
            self.bytes_per_second = bytes_per_second
            self.enabled = enabled
            self._buckets.clear()

    def admit(self, stream: str, shard: Shard, size: int) -> bool:
        """Take one record of ``size`` bytes (data plus partition key) from the shard's budget."""
        if not self.enabled:
            return True
        with self._lock:
            buckets = self._buckets.get((stream, shard.shard_id))
            if buckets is None:
                buckets = (
                    TokenBucket(self.records_per_second, self._clock),
                    TokenBucket(self.bytes_per_second, self._clock),
                )
                self._buckets[(stream, shard.shard_id)] = buckets
            records, data = buckets
            if records.has(1) and data.has(size):
                records.take(1)
                data.take(size)
                self.admitted += 1
                return True
            self.throttled += 1
            return False
