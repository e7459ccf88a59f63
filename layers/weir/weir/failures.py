"""Lambda's on-failure invocation records for Kinesis and DynamoDB stream event source mappings.

When retries or record age run out, Lambda sends an invocation record to the on-failure destination:

* **SQS** (and SNS): metadata only. ``KinesisBatchInfo`` names the shard and the first and last
  sequence numbers; the records must be read back from the stream before they expire.
* **S3**: the same fields plus ``payload``, the original invocation event (``{"Records": [...]}``
  with base64 ``kinesis.data``) as an *escaped JSON string*. The records survive the stream.

``batchSize`` can exceed the records of one invocation (Lambda merges failure metadata), so the
range ``startSequenceNumber..endSequenceNumber`` is what counts. Sequence numbers are compared as
integers: AWS makes 56-digit decimals, local emulators small ones, and string order is wrong for both.

A mapping on a DynamoDB table's stream (the aggregates consumer's) names its batch
``DDBStreamBatchInfo`` with the same fields (recorded against AWS:
tests/fixtures/aws-recorded/dynamodb-streams.json); its S3 payload holds the table's change records
as the function got them, the window included. :func:`parse_table_stream_failure` reads those.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any


class MalformedFailureRecord(ValueError):
    """Not an on-failure invocation record Weir can read; the message says what is missing."""


@dataclass(frozen=True)
class StreamRecord:
    data: bytes
    partition_key: str
    sequence_number: str


def stream_name_of(arn: str) -> str:
    """The stream's name in a stream ARN (``...:stream/NAME``) or an enhanced fan-out consumer's
    (``...:stream/NAME/consumer/CONSUMER:TIMESTAMP``), which a mapping on that consumer may report."""
    return arn.split(":stream/", 1)[-1].split("/", 1)[0]


@dataclass(frozen=True)
class BatchInfo:
    shard_id: str
    start_sequence_number: str
    end_sequence_number: str
    stream_arn: str
    batch_size: int

    @property
    def stream_name(self) -> str:
        return stream_name_of(self.stream_arn)

    def contains(self, sequence_number: str) -> bool:
        return int(self.start_sequence_number) <= int(sequence_number) <= int(self.end_sequence_number)


@dataclass(frozen=True)
class FailureRecord:
    condition: str
    function_arn: str
    timestamp: str
    batch: BatchInfo
    # The records themselves: present in S3 destinations, None for SQS pointers.
    records: list[StreamRecord] | None


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise MalformedFailureRecord(f"{where}.{key} is missing")
    return mapping[key]


def _record(document: str | bytes | dict[str, Any], info_key: str) -> tuple[dict[str, Any], Any, BatchInfo]:
    """An on-failure record's JSON, its ``requestContext`` and its batch (``info_key`` names it)."""
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MalformedFailureRecord(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedFailureRecord("not a JSON object")
    context = _require(document, "requestContext", "record")
    info = _require(document, info_key, "record")
    batch = BatchInfo(
        shard_id=str(_require(info, "shardId", info_key)),
        start_sequence_number=str(_require(info, "startSequenceNumber", info_key)),
        end_sequence_number=str(_require(info, "endSequenceNumber", info_key)),
        stream_arn=str(_require(info, "streamArn", info_key)),
        batch_size=int(info.get("batchSize", 0)),
    )
    for name in ("start_sequence_number", "end_sequence_number"):
        if not getattr(batch, name).isdigit():
            raise MalformedFailureRecord(f"{info_key}.{name} is not a decimal sequence number")
    return document, context, batch


def parse_failure_record(document: str | bytes | dict[str, Any]) -> FailureRecord:
    """Parse an on-failure invocation record (S3 object body or SQS message body)."""
    document, context, batch = _record(document, "KinesisBatchInfo")
    records = None
    if "payload" in document:
        records = _payload_records(document["payload"])
    return FailureRecord(
        condition=str(context.get("condition", "")),
        function_arn=str(context.get("functionArn", "")),
        timestamp=str(document.get("timestamp", "")),
        batch=batch,
        records=records,
    )


def _payload_records(payload: Any) -> list[StreamRecord]:
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise MalformedFailureRecord(f"payload is not escaped JSON: {exc}") from None
    records = _require(payload, "Records", "payload")
    if not isinstance(records, list):
        raise MalformedFailureRecord("payload.Records is not a list")
    parsed = []
    for i, record in enumerate(records):
        kinesis = _require(record, "kinesis", f"payload.Records[{i}]")
        try:
            data = base64.b64decode(_require(kinesis, "data", f"payload.Records[{i}].kinesis"), validate=True)
        except (binascii.Error, ValueError):
            raise MalformedFailureRecord(f"payload.Records[{i}].kinesis.data is not base64") from None
        parsed.append(
            StreamRecord(
                data=data,
                partition_key=str(_require(kinesis, "partitionKey", f"payload.Records[{i}].kinesis")),
                sequence_number=str(_require(kinesis, "sequenceNumber", f"payload.Records[{i}].kinesis")),
            )
        )
    return parsed


def read_range(kinesis: Any, batch: BatchInfo, page_limit: int = 1000) -> list[StreamRecord]:
    """The records of ``batch``'s range, read back from the stream.

    Raises :class:`RecordsExpired` when the range's first record is no longer on the stream
    (trimmed by retention): what is left cannot be the whole batch.
    """
    from botocore.exceptions import ClientError

    start, end = int(batch.start_sequence_number), int(batch.end_sequence_number)
    try:
        # StreamName (from the ARN) rather than StreamARN: the destination always names a stream of
        # this account, and kinesalite, the local Kinesis, predates the StreamARN parameter.
        iterator = kinesis.get_shard_iterator(
            StreamName=batch.stream_name,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=batch.start_sequence_number,
        )["ShardIterator"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in {"InvalidArgumentException", "ResourceNotFoundException"}:
            raise RecordsExpired(f"cannot read from {batch.start_sequence_number}: {code}") from None
        raise
    found: list[StreamRecord] = []
    while iterator:
        page = kinesis.get_records(ShardIterator=iterator, Limit=page_limit)
        for record in page.get("Records", []):
            sequence = int(record["SequenceNumber"])
            if sequence > end:
                return _checked(found, start)
            found.append(StreamRecord(bytes(record["Data"]), record["PartitionKey"], record["SequenceNumber"]))
        if not page.get("Records") and page.get("MillisBehindLatest", 0) == 0:
            break
        iterator = page.get("NextShardIterator")
    return _checked(found, start)


class RecordsExpired(Exception):
    """The stream no longer holds the records an SQS pointer names."""


def _checked(found: list[StreamRecord], start: int) -> list[StreamRecord]:
    if not found or int(found[0].sequence_number) != start:
        first = found[0].sequence_number if found else "none"
        raise RecordsExpired(f"the range starts at {start} but the stream's first record there is {first}")
    return found


TABLE_STREAM_BATCH = "DDBStreamBatchInfo"


def names_a_table_stream(document: str | bytes | dict[str, Any]) -> bool:
    """Whether an on-failure record is a DynamoDB stream mapping's (False for a Kinesis one's, and
    for anything that is not a JSON object)."""
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return False
    return isinstance(document, dict) and TABLE_STREAM_BATCH in document


@dataclass(frozen=True)
class TableStreamFailure:
    condition: str
    function_arn: str
    batch: BatchInfo
    # The function's event as it was (S3 destinations): its change records and, for a tumbling
    # window, its window; None for an SQS pointer.
    records: list[dict[str, Any]] | None
    window: dict[str, Any] | None


def parse_table_stream_failure(document: str | bytes | dict[str, Any]) -> TableStreamFailure:
    """Parse a DynamoDB stream mapping's on-failure record (S3 object body or SQS message body)."""
    document, context, batch = _record(document, TABLE_STREAM_BATCH)
    records = window = None
    if "payload" in document:
        payload = document["payload"]
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except json.JSONDecodeError as exc:
                raise MalformedFailureRecord(f"payload is not escaped JSON: {exc}") from None
        found = _require(payload, "Records", "payload")
        if not isinstance(found, list) or not all(isinstance(r, dict) and "dynamodb" in r for r in found):
            raise MalformedFailureRecord("payload.Records is not a list of change records")
        records = found
        window = payload.get("window") if isinstance(payload.get("window"), dict) else None
    return TableStreamFailure(
        condition=str(context.get("condition", "")),
        function_arn=str(context.get("functionArn", "")),
        batch=batch,
        records=records,
        window=window,
    )


def read_table_stream_range(streams: Any, batch: BatchInfo) -> list[dict[str, Any]]:
    """The change records of ``batch``'s range, read back from the table's stream (DynamoDB Streams
    keeps them 24 hours). Raises :class:`RecordsExpired` when its first record is no longer there."""
    from botocore.exceptions import ClientError

    start, end = int(batch.start_sequence_number), int(batch.end_sequence_number)
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=batch.stream_arn,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch.start_sequence_number,
        )["ShardIterator"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in {"TrimmedDataAccessException", "ResourceNotFoundException", "ValidationException"}:
            raise RecordsExpired(f"cannot read from {batch.start_sequence_number}: {code}") from None
        raise
    found: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in page.get("Records", []):
            if int(record["dynamodb"]["SequenceNumber"]) > end:
                iterator = None
                break
            found.append(record)
        else:
            if not page.get("Records"):
                break
            iterator = page.get("NextShardIterator")
    if not found or int(found[0]["dynamodb"]["SequenceNumber"]) != start:
        first = found[0]["dynamodb"]["SequenceNumber"] if found else "none"
        raise RecordsExpired(f"the range starts at {start} but the table's stream has {first} there")
    return found
