"""Which shard a record goes to: the open shard whose hash-key range holds the MD5 of its key.

Kinesis maps a partition key to a 128-bit integer with MD5 (or takes the record's explicit hash
key) and writes the record to the open shard whose ``HashKeyRange`` holds it. A shard closed by a
split or a merge (its ``SequenceNumberRange`` has an ``EndingSequenceNumber``) takes no writes.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


def hash_key(partition_key: str, explicit_hash_key: str | None = None) -> int:
    """The 128-bit hash key Kinesis places a record by."""
    if explicit_hash_key:
        return int(explicit_hash_key)
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8"), usedforsecurity=False).digest(), "big")


@dataclass(frozen=True)
class Shard:
    shard_id: str
    start: int
    end: int


class ShardMap:
    """Open shards of one stream, sorted by the start of their hash-key range."""

    def __init__(self, shards: Iterable[Shard]) -> None:
        self.shards = sorted(shards, key=lambda s: s.start)
        self._starts = [s.start for s in self.shards]

    @classmethod
    def from_listing(cls, shards: Iterable[Mapping[str, Any]]) -> ShardMap:
        """The open shards among ``ListShards``' ``Shards`` entries."""
        return cls(
            Shard(s["ShardId"], int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
            for s in shards
            if "EndingSequenceNumber" not in s.get("SequenceNumberRange", {})
        )

    def shard_for(self, key: int) -> Shard:
        """The open shard holding hash key ``key``; KeyError when none does (mid-reshard)."""
        position = bisect_right(self._starts, key) - 1
        if position < 0 or key > self.shards[position].end:
            raise KeyError(f"no open shard holds hash key {key}")
        return self.shards[position]


def list_shards(client: Any, stream_arg: Mapping[str, str]) -> ShardMap:
    """The stream's open shards, every page of ``ListShards`` (1,000 calls/s per stream)."""
    listed: list[Mapping[str, Any]] = []
    request: dict[str, Any] = dict(stream_arg)
    while True:
        page = client.list_shards(**request)
        listed.extend(page.get("Shards", []))
        token = page.get("NextToken")
        if not token:
            return ShardMap.from_listing(listed)
        request = {"NextToken": token}
