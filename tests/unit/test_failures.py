"""On-failure invocation records, in the exact formats Lambda writes (docs/aws-facts.md)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from weir.failures import BatchInfo, MalformedFailureRecord, RecordsExpired, parse_failure_record, read_range

# The SQS/SNS record, as AWS documents it: metadata only.
SQS_RECORD: dict[str, Any] = {
    "requestContext": {
        "requestId": "c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
        "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
        "condition": "RetryAttemptsExhausted",
        "approximateInvokeCount": 1,
    },
    "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
    "version": "1.0",
    "timestamp": "2019-11-14T00:38:06.021Z",
    "KinesisBatchInfo": {
        "shardId": "shardId-000000000001",
        "startSequenceNumber": "49601189658422359378836298521827638475320189012309704722",
        "endSequenceNumber": "49601189658422359378836298522902373528957594348623495186",
        "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
        "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
        "batchSize": 500,
        "streamArn": "arn:aws:kinesis:us-east-2:123456789012:stream/mystream",
    },
}


def s3_record(records: list[tuple[bytes, str, str]]) -> dict[str, Any]:
    """The S3 object: the same fields plus `payload`, the invocation event as an escaped JSON string."""
    payload = {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": key,
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": 1573691884.835,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000001:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/weir",
                "awsRegion": "us-east-2",
                "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/mystream",
            }
            for data, key, sequence in records
        ]
    }
    return {**SQS_RECORD, "payload": json.dumps(payload)}


def test_an_sqs_pointer_has_the_batch_range_and_no_records() -> None:
    record = parse_failure_record(json.dumps(SQS_RECORD))
    assert record.records is None
    assert record.condition == "RetryAttemptsExhausted"
    assert record.batch.shard_id == "shardId-000000000001"
    assert record.batch.stream_name == "mystream"
    assert record.batch.batch_size == 500


def test_an_s3_object_carries_the_records_in_its_escaped_payload() -> None:
    document = s3_record([(b'{"event_id":"a"}', "k1", "49601"), (b"\x00\x01raw", "k2", "49602")])
    assert isinstance(document["payload"], str)  # escaped JSON, not an object
    record = parse_failure_record(json.dumps(document).encode())
    assert record.records is not None
    assert [(r.data, r.partition_key, r.sequence_number) for r in record.records] == [
        (b'{"event_id":"a"}', "k1", "49601"),
        (b"\x00\x01raw", "k2", "49602"),
    ]


def test_any_condition_is_kept() -> None:
    document = {**SQS_RECORD, "requestContext": {**SQS_RECORD["requestContext"], "condition": "RecordAgeExceeded"}}
    assert parse_failure_record(document).condition == "RecordAgeExceeded"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "not JSON"),
        ({"requestContext": {}}, "KinesisBatchInfo is missing"),
        ({**SQS_RECORD, "KinesisBatchInfo": {"shardId": "s"}}, "startSequenceNumber is missing"),
        ({**SQS_RECORD, "payload": "{broken"}, "payload is not escaped JSON"),
        (
            {**SQS_RECORD, "KinesisBatchInfo": {**SQS_RECORD["KinesisBatchInfo"], "startSequenceNumber": "abc"}},
            "decimal",
        ),
    ],
)
def test_a_malformed_record_is_refused_with_what_is_wrong(document: Any, message: str) -> None:
    with pytest.raises(MalformedFailureRecord, match=message):
        parse_failure_record(document if isinstance(document, str) else json.dumps(document))


@pytest.mark.parametrize(
    ("start", "end", "inside", "outside"),
    [
        (
            "49601189658422359378836298521827638475320189012309704722",
            "49601189658422359378836298522902373528957594348623495186",
            "49601189658422359378836298522000000000000000000000000000",
            "49601189658422359378836298522902373528957594348623495187",
        ),
        ("7", "12", "10", "100"),  # as local emulators number them: "100" < "12" as strings, not as integers
    ],
)
def test_sequence_numbers_compare_as_integers(start: str, end: str, inside: str, outside: str) -> None:
    batch = BatchInfo("shardId-000000000000", start, end, "arn:aws:kinesis:us-east-1:123456789012:stream/s", 1)
    assert batch.contains(inside)
    assert not batch.contains(outside)


class PagedKinesis:
    """GetRecords in pages of ``page`` records over a shard holding ``sequences``."""

    def __init__(self, sequences: list[int], page: int) -> None:
        self.sequences = sequences
        self.page = page
        self.calls = 0

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, str]:
        start = int(kwargs["StartingSequenceNumber"])
        position = next((i for i, s in enumerate(self.sequences) if s >= start), len(self.sequences))
        return {"ShardIterator": str(position)}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        self.calls += 1
        position = int(ShardIterator)
        chunk = self.sequences[position : position + min(self.page, Limit)]
        records = [{"SequenceNumber": str(s), "PartitionKey": "k", "Data": f"d{s}".encode()} for s in chunk]
        behind = 0 if position + len(chunk) >= len(self.sequences) else 1000
        return {"Records": records, "NextShardIterator": str(position + len(chunk)), "MillisBehindLatest": behind}


def test_a_pointer_spanning_several_pages_is_read_back_completely_and_only_its_range() -> None:
    kinesis = PagedKinesis(list(range(1, 40)), page=4)
    batch = BatchInfo("shardId-000000000000", "5", "22", "arn:aws:kinesis:us-east-1:123456789012:stream/s", 18)
    records = read_range(kinesis, batch)
    assert [int(r.sequence_number) for r in records] == list(range(5, 23))
    assert kinesis.calls >= 5


def test_a_range_whose_first_record_was_trimmed_is_reported_expired() -> None:
    kinesis = PagedKinesis(list(range(30, 40)), page=4)  # retention removed 1..29
    batch = BatchInfo("shardId-000000000000", "5", "35", "arn:aws:kinesis:us-east-1:123456789012:stream/s", 31)
    with pytest.raises(RecordsExpired, match="starts at 5"):
        read_range(kinesis, batch)


def test_a_range_entirely_gone_is_reported_expired() -> None:
    with pytest.raises(RecordsExpired):
        read_range(PagedKinesis([], page=4), BatchInfo("s", "5", "9", "arn:aws:kinesis:us-east-1:1:stream/s", 5))
