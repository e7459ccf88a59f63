"""Kinesis per-shard write limits, applied by the local endpoint as AWS applies them.

Each shard takes 1 MiB/s or 1,000 records/s of writes, whichever is hit first; the shard is the
one whose hash-key range holds the MD5 of the partition key (or the explicit hash key). An entry
over the limit fails inside a 200 PutRecords response with ProvisionedThroughputExceededException.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from local.kinesis.shards import OpenShard

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

    def admit(self, stream: str, shard: OpenShard, size: int) -> bool:
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


READ_CALLS_PER_SECOND = 5
READ_BYTES_PER_SECOND = 2 * MIB
# Iterators remembered (each names its shard); an iterator is good for 5 minutes in AWS, and one
# that is never used is forgotten after this many newer ones.
ITERATORS_KEPT = 50_000
# The header the emulator's enhanced fan-out mappings send: their reads are their own, outside the
# shard's shared limits (AWS pushes to them with SubscribeToShard; the emulator's mappings poll).
DEDICATED_READ_HEADER = "X-Weir-Read"


class ShardReadLimiter:
    """Every standard consumer of a shard shares its 5 GetRecords calls/s and 2 MiB/s, as in AWS.

    GetRecords names no shard, only an iterator: the limiter remembers which shard each iterator it
    saw answered (GetShardIterator, then each NextShardIterator) reads. A call over the call rate, or
    made while the bytes already read exceed what the shard had to give, is refused with
    ProvisionedThroughputExceededException; the bytes of a call are counted after it, so one large
    answer holds the shard's next calls back until the budget refills ("if a call returns 10 MiB,
    subsequent calls made within the next 5 seconds throw an exception", Kinesis API reference,
    GetRecords). Thread-safe."""

    def __init__(
        self,
        calls_per_second: float = READ_CALLS_PER_SECOND,
        bytes_per_second: float = READ_BYTES_PER_SECOND,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.calls_per_second = calls_per_second
        self.bytes_per_second = bytes_per_second
        self.enabled = enabled
        self._clock = clock
        self._lock = threading.Lock()
        self._iterators: dict[str, str] = {}  # iterator -> "stream/shard", oldest first
        self._buckets: dict[str, tuple[TokenBucket, TokenBucket]] = {}
        self.throttled = 0
        self.admitted = 0

    def note(self, iterator: str | None, shard: str) -> None:
        """``iterator`` reads ``shard`` (a "stream/shardId" key)."""
        if not iterator:
            return
        with self._lock:
            self._iterators[iterator] = shard
            while len(self._iterators) > ITERATORS_KEPT:
                del self._iterators[next(iter(self._iterators))]

    def admit(self, iterator: str) -> tuple[bool, str | None]:
        """Whether this call may go ahead, and the shard it reads (None when the iterator is unknown:
        admitted, since the limiter never saw where it points)."""
        with self._lock:
            shard = self._iterators.pop(iterator, None)
            if shard is None or not self.enabled:
                return True, shard
            calls, data = self._bucket(shard)
            if calls.has(1) and data.has(0):
                calls.take(1)
                self.admitted += 1
                return True, shard
            self._iterators[iterator] = shard  # still good for a later call
            self.throttled += 1
            return False, shard

    def charge(self, shard: str, size: int) -> None:
        """The bytes an admitted call returned (the budget may go below zero, and refills from there)."""
        with self._lock:
            if self.enabled:
                self._bucket(shard)[1].take(size)

    def _bucket(self, shard: str) -> tuple[TokenBucket, TokenBucket]:
        buckets = self._buckets.get(shard)
        if buckets is None:
            buckets = (TokenBucket(self.calls_per_second, self._clock), TokenBucket(self.bytes_per_second, self._clock))
            self._buckets[shard] = buckets
        return buckets
