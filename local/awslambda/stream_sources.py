"""The streams an emulated event source mapping reads: a Kinesis stream, or a DynamoDB table's stream.

The mapping's rules (batching, retries, bisecting, record age, windows, the on-failure destination)
are the same for both (docs/aws-facts.md); what differs is here: how the shards are listed and read,
what a record looks like in the function's event, what a record's identity in ``batchItemFailures``
is, and what the on-failure record calls the batch. Both are read through the local endpoint, as
Lambda reads them.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

from local.cloudformation.deployer import local_client
from local.kinesis.limits import DEDICATED_READ_HEADER


@dataclass
class StreamRecord:
    shard_id: str
    sequence_number: str
    partition_key: str  # what keeps a record in its lane: the partition key, or the item's key
    data: bytes
    arrival: float
    # What the source adds to the function's event for this record (a DynamoDB stream record).
    detail: dict[str, Any] = field(default_factory=dict)
    # When the mapping read it (monotonic): the batching window counts from the first record's.
    read_at: float = field(default_factory=time.monotonic)

    def size(self) -> int:
        return len(self.data) * 4 // 3 + len(self.partition_key) + 400  # base64 plus the event's JSON


@dataclass(frozen=True)
class Shard:
    shard_id: str
    parents: list[str]
    closed: bool


@dataclass
class ReadPage:
    records: list[StreamRecord]
    next_iterator: str | None  # None: a closed shard, read to its end


class Throttled(Exception):
    """The shard's reads are spent for now (its iterator stays good)."""


class StreamSource(Protocol):
    """What an event source mapping reads, and how its records look to the function."""

    batch_info_key: str
    event_source_arn: str

    def shards(self) -> list[Shard]: ...

    def iterator(self, shard_id: str, after: str | None, position: str) -> str: ...

    def read(self, iterator: str) -> ReadPage: ...

    def event_record(self, record: StreamRecord, region: str, role_arn: str) -> dict[str, Any]: ...

    def identity(self, record: StreamRecord) -> str:
        """What ``batchItemFailures`` names the record by."""
        ...


def _dedicated_read(request: Any, **_: Any) -> None:
    request.headers[DEDICATED_READ_HEADER] = "enhanced-fan-out"


class KinesisSource:
    batch_info_key = "KinesisBatchInfo"

    def __init__(self, stream_arn: str, endpoint_url: str) -> None:
        self.stream_arn = stream_arn
        # The stream's ARN, also for a mapping on one of its consumers (what the records and the
        # on-failure records name here; which of the two AWS puts there is not documented).
        self.event_source_arn = stream_arn.split("/consumer/", 1)[0]
        self.stream_name = self.event_source_arn.rsplit("/", 1)[-1]
        self.kinesis = local_client("kinesis", endpoint_url)
        if "/consumer/" in stream_arn:
            # Enhanced fan-out: reads of its own (SubscribeToShard in AWS), outside the shard's
            # shared 5 calls/s and 2 MiB/s.
            self.kinesis.meta.events.register("before-sign.kinesis.GetRecords", _dedicated_read)

    @property
    def enhanced_fan_out(self) -> bool:
        return "/consumer/" in self.stream_arn

    def shards(self) -> list[Shard]:
        listed: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamName": self.stream_name}
        while True:
            page = self.kinesis.list_shards(**kwargs)
            listed.extend(page["Shards"])
            if not page.get("NextToken"):
                break
            kwargs = {"NextToken": page["NextToken"]}
        return [
            Shard(
                s["ShardId"],
                [s[k] for k in ("ParentShardId", "AdjacentParentShardId") if s.get(k)],
                "EndingSequenceNumber" in s["SequenceNumberRange"],
            )
            for s in listed
        ]

    def iterator(self, shard_id: str, after: str | None, position: str) -> str:
        kwargs: dict[str, Any] = {"StreamName": self.stream_name, "ShardId": shard_id}
        if after is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        else:
            kwargs["ShardIteratorType"] = position
        return str(self.kinesis.get_shard_iterator(**kwargs)["ShardIterator"])

    def read(self, iterator: str) -> ReadPage:
        try:
            page = self.kinesis.get_records(ShardIterator=iterator, Limit=10_000)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ProvisionedThroughputExceededException":
                raise Throttled from exc
            raise
        shard_id = ""
        records = []
        for record in page.get("Records", []):
            records.append(
                StreamRecord(
                    shard_id,
                    record["SequenceNumber"],
                    record["PartitionKey"],
                    bytes(record["Data"]),
                    record["ApproximateArrivalTimestamp"].timestamp(),  # botocore parses it to a datetime
                )
            )
        return ReadPage(records, page.get("NextShardIterator"))

    def event_record(self, record: StreamRecord, region: str, role_arn: str) -> dict[str, Any]:
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": record.partition_key,
                "sequenceNumber": record.sequence_number,
                "data": base64.b64encode(record.data).decode(),
                "approximateArrivalTimestamp": record.arrival,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{record.shard_id}:{record.sequence_number}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": role_arn,
            "awsRegion": region,
            "eventSourceARN": self.event_source_arn,
        }

    def identity(self, record: StreamRecord) -> str:
        return record.sequence_number


class DynamoDBStreamSource:
    """A table's stream (``arn:aws:dynamodb:...:table/<name>/stream/<label>``), read through the
    DynamoDB Streams API; its records go to the function as they are, with ``eventSourceARN``."""

    batch_info_key = "DDBStreamBatchInfo"

    def __init__(self, stream_arn: str, endpoint_url: str) -> None:
        self.event_source_arn = stream_arn
        self.streams = local_client("dynamodbstreams", endpoint_url)

    def shards(self) -> list[Shard]:
        description = self.streams.describe_stream(StreamArn=self.event_source_arn)["StreamDescription"]
        return [
            Shard(
                s["ShardId"],
                [s["ParentShardId"]] if s.get("ParentShardId") else [],
                "EndingSequenceNumber" in s["SequenceNumberRange"],
            )
            for s in description["Shards"]
        ]

    def iterator(self, shard_id: str, after: str | None, position: str) -> str:
        kwargs: dict[str, Any] = {"StreamArn": self.event_source_arn, "ShardId": shard_id}
        if after is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        else:
            kwargs["ShardIteratorType"] = position
        return str(self.streams.get_shard_iterator(**kwargs)["ShardIterator"])

    def read(self, iterator: str) -> ReadPage:
        page = self.streams.get_records(ShardIterator=iterator, Limit=1000)
        records = []
        for record in page.get("Records", []):
            change = record["dynamodb"]
            detail = json.loads(json.dumps(record, default=_as_json))
            records.append(
                StreamRecord(
                    "",
                    change["SequenceNumber"],
                    json.dumps(detail["dynamodb"]["Keys"], sort_keys=True),
                    json.dumps(detail).encode(),
                    _epoch(change["ApproximateCreationDateTime"]),
                    detail,
                )
            )
        return ReadPage(records, page.get("NextShardIterator"))

    def event_record(self, record: StreamRecord, region: str, role_arn: str) -> dict[str, Any]:
        return {**record.detail, "eventSourceARN": self.event_source_arn}

    def identity(self, record: StreamRecord) -> str:
        return record.sequence_number


def _as_json(value: Any) -> Any:
    """What botocore parsed back to the event's JSON: a datetime as epoch seconds, a binary as base64."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    return _epoch(value)


def _epoch(moment: Any) -> float:
    """botocore parses the stream's ApproximateCreationDateTime to a datetime; events carry epoch seconds."""
    return float(moment.timestamp()) if hasattr(moment, "timestamp") else float(moment)


def source_for(stream_arn: str, endpoint_url: str) -> KinesisSource | DynamoDBStreamSource:
    if ":dynamodb:" in stream_arn and "/stream/" in stream_arn:
        return DynamoDBStreamSource(stream_arn, endpoint_url)
    return KinesisSource(stream_arn, endpoint_url)
