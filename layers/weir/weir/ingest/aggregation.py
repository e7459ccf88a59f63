"""Many events in one Kinesis record (the KPL's aggregated format, weir/kpl.py): ``PRODUCER_AGGREGATION=kpl``.

A shard takes 1,000 records or 1 MiB per second, whichever comes first; events of a few hundred bytes
fill the record count with most of the bytes unused. Aggregated, a shard takes as many events as fit
in its bytes. The events of one request are packed:

* per shard: each event goes to the shard its partition key hashes to, and each aggregate carries an
  explicit hash key inside that shard's range (the shard's starting hash key), so it lands on the
  shard its events belong to, and a reshard is followed through the producer's shard map;
* per lane: within a shard, events are grouped by a bucket of their partition key (one bucket per
  concurrent batch the consumer's mapping runs, ``ParallelizationFactor``), and the aggregate's own
  partition key names the bucket. Lambda keeps records of one partition key in one lane, so every
  aggregate holding a key goes through the same lane, in order: per-key order and the mapping's
  parallelization both keep working (the KPL's aggregates carry one key, which serializes a shard);
* in the request's order, each aggregate no larger than the stream's record limit (data plus partition
  key).

An aggregate is written, resubmitted and paced as one record; its events share its outcome, so one
that cannot be written spills event by event, as a plain record's event does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from weir import kpl
from weir.producer import Record
from weir.shards import ShardMap, hash_key

BUCKET_KEY_PREFIX = "weir-aggregate-"


@dataclass(frozen=True)
class Packed:
    """An aggregated record and the positions, in the request, of the events it holds."""

    record: Record
    members: tuple[int, ...]


def bucket_of(partition_key: str, buckets: int) -> int:
    digest = hashlib.md5(partition_key.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:4], "big") % buckets


def pack(records: Sequence[Record], shard_map: ShardMap, max_record_bytes: int, buckets: int) -> list[Packed]:
    """``records`` as aggregated records, per shard and bucket, in order, each within ``max_record_bytes``.

    A record no open shard of the map holds (a reshard under way) goes out alone, as it is.
    """
    groups: dict[tuple[str, int], list[int]] = {}
    starts: dict[str, int] = {}
    alone: list[Packed] = []
    for index, record in enumerate(records):
        try:
            shard = shard_map.shard_for(hash_key(record.partition_key, record.explicit_hash_key))
        except KeyError:
            alone.append(Packed(record, (index,)))
            continue
        starts[shard.shard_id] = shard.start
        groups.setdefault((shard.shard_id, bucket_of(record.partition_key, buckets)), []).append(index)
    packed = list(alone)
    for (shard_id, bucket), indexes in groups.items():
        key = f"{BUCKET_KEY_PREFIX}{bucket}"
        data_limit = max_record_bytes - len(key.encode("utf-8"))
        for members in _runs(records, indexes, data_limit):
            data = kpl.aggregate([kpl.UserRecord(records[i].partition_key, records[i].data) for i in members])
            if len(data) > data_limit:  # one event near the limit: no room for the format, so it goes plain
                packed.append(Packed(records[members[0]], (members[0],)))
            else:
                packed.append(Packed(Record(data, key, str(starts[shard_id])), tuple(members)))
    return sorted(packed, key=lambda p: p.members[0])


def _runs(records: Sequence[Record], indexes: list[int], data_limit: int) -> list[list[int]]:
    """``indexes`` cut, in order, into runs whose aggregate is at most ``data_limit`` bytes."""
    runs: list[list[int]] = []
    current: list[int] = []
    size = kpl.EMPTY_AGGREGATE_BYTES
    for index in indexes:
        added = kpl.user_record_bytes(records[index].partition_key, len(records[index].data))
        if current and size + added > data_limit:
            runs.append(current)
            current, size = [], kpl.EMPTY_AGGREGATE_BYTES
        current.append(index)
        size += added
    if current:
        runs.append(current)
    return runs
