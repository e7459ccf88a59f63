"""The archive's format: Firehose's transformation keeps what a raw record loses (its partition key,
arrival, shard and sequence number), a record it cannot read is failed for Firehose's error prefix
and not dropped, and a replay reads a range back from the objects, a late record of the hour before
included."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from weir.archive.reader import ArchiveReader
from weir.archive.record import ArchivedRecord, UnreadableArchive, hour_prefix, read_object
from weir.archive.transform import transform

ARRIVAL = datetime(2026, 12, 6, 10, 59, 58, 123000, tzinfo=UTC)


def firehose_record(record_id: str, data: bytes, key: str = "customer-1", sub: Any = None) -> dict[str, Any]:
    """A record as Firehose hands it to a transformation when it reads a Kinesis stream."""
    millis = int(ARRIVAL.timestamp() * 1000)
    return {
        "recordId": record_id,
        "approximateArrivalTimestamp": millis,
        "data": base64.b64encode(data).decode(),
        "kinesisRecordMetadata": {
            "shardId": "shardId-000000000001",
            "partitionKey": key,
            "approximateArrivalTimestamp": millis,
            "sequenceNumber": "49546986683135544286507457936321625675700192471156785154",
            "subsequenceNumber": sub,
        },
    }


def test_each_record_becomes_a_line_that_keeps_its_key_arrival_and_place() -> None:
    answer = transform(
        {"records": [firehose_record("r1", b'{"event_id":"e1"}'), firehose_record("r2", b"\x00raw", sub=3)]}
    )
    assert [(r["recordId"], r["result"]) for r in answer["records"]] == [("r1", "Ok"), ("r2", "Ok")]
    lines = b"".join(base64.b64decode(r["data"]) for r in answer["records"])
    first, second = read_object(gzip.compress(lines))
    assert first == ArchivedRecord(
        "shardId-000000000001",
        "49546986683135544286507457936321625675700192471156785154",
        None,
        "customer-1",
        ARRIVAL,
        b'{"event_id":"e1"}',
    )
    assert (second.sub_sequence_number, second.data) == (3, b"\x00raw")  # any bytes, as they were


def test_a_record_without_its_kinesis_metadata_is_failed_for_the_error_prefix_not_dropped() -> None:
    broken = {"recordId": "r9", "data": base64.b64encode(b"x").decode()}
    (answer,) = transform({"records": [broken]})["records"]
    assert answer == {"recordId": "r9", "result": "ProcessingFailed", "data": broken["data"]}


def test_an_object_that_is_not_the_archive_s_is_refused_naming_the_line() -> None:
    with pytest.raises(UnreadableArchive, match="line 2"):
        list(
            read_object(
                b'{"shard_id":"s","sequence_number":"1","partition_key":"k","arrival_ms":1,"data":""}\nnot json\n'
            )
        )


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="archive")
        yield client


def put_object(s3: Any, oldest: datetime, records: list[ArchivedRecord], name: str) -> str:
    key = f"{hour_prefix(oldest)}{name}.gz"
    s3.put_object(Bucket="archive", Key=key, Body=gzip.compress(b"".join(r.to_line() for r in records)))
    return key


def archived(event_id: str, arrival: datetime) -> ArchivedRecord:
    return ArchivedRecord("shardId-000000000000", "1", None, "k", arrival, f'{{"event_id":"{event_id}"}}'.encode())


def test_a_range_is_read_from_its_hours_and_the_late_records_of_the_hour_before(s3: Any) -> None:
    start = datetime(2026, 12, 6, 11, 0, tzinfo=UTC)
    end = start + timedelta(hours=1)
    early = put_object(
        s3,
        start - timedelta(minutes=2),
        [archived("before", start - timedelta(minutes=2)), archived("late", start + timedelta(seconds=30))],
        "a",
    )
    inside = put_object(s3, start + timedelta(minutes=10), [archived("in", start + timedelta(minutes=10))], "b")
    put_object(s3, end + timedelta(minutes=5), [archived("after", end + timedelta(minutes=5))], "c")
    put_object(s3, start - timedelta(hours=3), [archived("old", start - timedelta(hours=3))], "d")
    reader = ArchiveReader(s3, "archive", retention_days=30)
    parts = [p["ShardId"] for p in reader.shards(start, end)]
    assert parts == [early, inside]
    read = [r.data for key in parts for r in reader.records(key, start, None, end)]
    assert read == [b'{"event_id":"late"}', b'{"event_id":"in"}']
    # a place is a line's index: a cut run goes on after it
    assert [r.sequence_number for r in reader.records(early, start - timedelta(hours=1), "0", end)] == ["1"]
    assert reader.retention_hours() == 720
