"""Reading a time range of the archive, as the replay reads the stream: each object a "shard" of its
own (named by its key, in key order, which is arrival order), each line a record whose place is its
index in the object. Objects are listed by hour from an hour before the range (an object is named by
its oldest record's hour and holds up to Firehose's buffer interval, at most 900 s, of later ones)."""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

from weir.archive.record import hour_prefix, read_object
from weir.replay.stream_source import StreamRecord

# Firehose's longest buffer interval: an object's records arrived at most this long after its hour.
MAX_BUFFER = timedelta(seconds=900)


class ArchiveReader:
    def __init__(self, s3: Any, bucket: str, retention_days: int | None = None) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._retention_days = retention_days

    def shards(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        keys: list[str] = []
        hour = (start - MAX_BUFFER).replace(minute=0, second=0, microsecond=0)
        while hour < end:
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=hour_prefix(hour))
            keys += [entry["Key"] for page in pages for entry in page.get("Contents", [])]
            hour += timedelta(hours=1)
        return [{"ShardId": key} for key in sorted(keys)]

    def retention_hours(self) -> int | None:
        return None if self._retention_days is None else self._retention_days * 24

    def records(
        self, shard_id: str, start: datetime, after: str | None, end: datetime
    ) -> Generator[StreamRecord, None, None]:
        body = self._s3.get_object(Bucket=self._bucket, Key=shard_id)["Body"].read()
        for index, archived in enumerate(read_object(body)):
            if after is not None and index <= int(after):
                continue
            if start <= archived.arrival < end:
                yield StreamRecord(shard_id, str(index), None, archived.partition_key, archived.data, archived.arrival)
