"""Reading a time range of the stream: every shard from AT_TIMESTAMP (or from where a cut run
stopped), parents before children, each record as the user records it holds."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from weir import kpl


@dataclass(frozen=True)
class StreamRecord:
    """One user record (an event, or what a poison record holds) and where it was on the stream."""

    shard_id: str
    sequence_number: str
    sub_sequence_number: int | None
    partition_key: str
    data: bytes
    arrival: datetime


def in_lineage_order(shards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parents before their children (a reshard's children hold the later records of their keys),
    and otherwise in the order ListShards gave them."""
    by_id = {s["ShardId"]: s for s in shards}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()

    def place(shard: dict[str, Any]) -> None:
        if shard["ShardId"] in placed:
            return
        for parent in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")):
            if parent in by_id:
                place(by_id[parent])
        placed.add(shard["ShardId"])
        ordered.append(shard)

    for shard in shards:
        place(shard)
    return ordered


class StreamReader:
    """The stream's records by shard, with at most one GetRecords call per ``read_interval`` seconds
    on a shard: the replay shares the shard's five reads a second with the live consumers."""

    def __init__(
        self,
        kinesis: Any,
        stream: str,
        read_interval: float = 0.25,
        page: int = 1000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._kinesis = kinesis
        self._stream = stream
        self._read_interval = read_interval
        self._page = page
        self._sleep = sleep

    def shards(self, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
        """Every shard of the stream, parents first (the range does not narrow them)."""
        shards: list[dict[str, Any]] = []
        request: dict[str, Any] = {"StreamName": self._stream}
        while True:
            page = self._kinesis.list_shards(**request)
            shards += page["Shards"]
            if not page.get("NextToken"):
                return in_lineage_order(shards)
            request = {"NextToken": page["NextToken"]}

    def retention_hours(self) -> int | None:
        summary = self._kinesis.describe_stream_summary(StreamName=self._stream)["StreamDescriptionSummary"]
        return int(summary["RetentionPeriodHours"])

    def records(
        self, shard_id: str, start: datetime, after: str | None, end: datetime
    ) -> Generator[StreamRecord, None, None]:
        """The shard's records that arrived in [start, end), from after the sequence number ``after``
        when given; ends at the first record at or past ``end``, at the shard's end, or at its tip."""
        request: dict[str, Any] = {"StreamName": self._stream, "ShardId": shard_id}
        if after is not None:
            request |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
        else:
            request |= {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": start}
        iterator = self._kinesis.get_shard_iterator(**request).get("ShardIterator")
        while iterator:
            page = self._kinesis.get_records(ShardIterator=iterator, Limit=self._page)
            for record in page["Records"]:
                arrival = _aware(record["ApproximateArrivalTimestamp"])
                if arrival >= end:
                    return
                if arrival < start:
                    continue  # a resumed run's shard reads from a sequence number, not a time
                for sub, user in _user_records(record):
                    yield StreamRecord(shard_id, record["SequenceNumber"], sub, user.partition_key, user.data, arrival)
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                return  # the tip: nothing later has arrived yet
            iterator = page.get("NextShardIterator")
            self._sleep(self._read_interval)


def _user_records(record: dict[str, Any]) -> list[tuple[int | None, kpl.UserRecord]]:
    data = bytes(record["Data"])
    if kpl.is_aggregated(data):
        try:
            return list(enumerate(kpl.deaggregate(data)))
        except kpl.UnreadableAggregate:
            pass
    return [(None, kpl.UserRecord(record["PartitionKey"], data))]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
