"""Which shard Kinesis writes a record to, computed by the test bed itself.

The gateway applies each shard's write limit before kinesalite sees the record, so it must know the
shard first. It works it out as the Kinesis developer guide describes, with code of its own rather than
the producer's (``weir.shards``): "Kinesis Data Streams uses MD5 to map partition keys to 128-bit integer
values", or takes the record's ``ExplicitHashKey``, and the record goes to the open shard whose
``HashKeyRange`` holds that value; a closed shard (its ``SequenceNumberRange`` has an
``EndingSequenceNumber``) takes no writes. A defect in the producer's shard hashing is then not mirrored
here, and tests/integration/test_shard_placement.py holds this module to the shard kinesalite reports
for each record it wrote.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OpenShard:
    shard_id: str
    low: int
    high: int


def placement_key(partition_key: str, explicit_hash_key: str | None = None) -> int:
    """The 128-bit value a record is placed by."""
    if explicit_hash_key:
        return int(explicit_hash_key)
    digest = hashlib.md5(partition_key.encode("utf-8"), usedforsecurity=False).hexdigest()
    return int(digest, 16)


def open_shards(listing: Iterable[Mapping[str, Any]]) -> tuple[OpenShard, ...]:
    """The shards of a ``ListShards`` answer that take writes."""
    return tuple(
        OpenShard(s["ShardId"], int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
        for s in listing
        if "EndingSequenceNumber" not in s.get("SequenceNumberRange", {})
    )


def owner(shards: Iterable[OpenShard], value: int) -> OpenShard | None:
    """The open shard whose range holds ``value``; None when none does (a reshard under way)."""
    return next((shard for shard in shards if shard.low <= value <= shard.high), None)
