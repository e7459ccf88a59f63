"""DynamoDB Streams for the local tables that have one: what dynalite lacks, kept by the gateway.

A table created (or updated) with a ``StreamSpecification`` gets a stream; every write the gateway
sends to it that changes an item is one stream record, in the order the writes were applied, with
the images the stream's ``StreamViewType`` asks for: ``INSERT`` for a new item, ``MODIFY`` for a
changed one, ``REMOVE`` for a deleted one, and nothing for a write that changed nothing (a failed
condition) — "each stream record appears exactly once in the stream" (DynamoDB developer guide,
"Change data capture for DynamoDB Streams"). The record's shape is the one LocalStack's
AWS-validated snapshots record (tests/fixtures/aws-recorded/dynamodb-streams.json): ``eventID``,
``eventName``, ``eventVersion`` 1.1, ``eventSource`` aws:dynamodb, ``awsRegion``, and ``dynamodb``
with ``ApproximateCreationDateTime``, ``Keys``, the images, ``SequenceNumber``, ``SizeBytes`` (the keys'
and the images' item sizes) and ``StreamViewType``.

The Streams API (``ListStreams``, ``DescribeStream``, ``GetShardIterator``, ``GetRecords``) is
answered here. What differs from AWS, on purpose: one shard per stream that never splits (AWS rolls
its shards over about every four hours), records kept for the life of the runtime (AWS: 24 hours),
and no TTL deletions (dynalite deletes nothing when it expires). To learn whether a write created or
changed an item, the gateway asks the backend for the item as it was (``ReturnValues: ALL_OLD``) and
answers the caller as it asked; an ``UpdateItem``'s new image is read right after it (not atomic with
the write: a writer racing the same key in that moment could tell).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STREAMS_TARGET_PREFIX = "DynamoDBStreams_20120810."
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
# (operation, params) -> (HTTP status, parsed JSON answer), sent to the DynamoDB backend.
SingleCall = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]
SHARD_ID = "shardId-00000001000000000000-00000001"
MAX_RECORDS_PER_CALL = 1000
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
VIEW_TYPES = frozenset({"KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"})


def _error(code: str, message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"__type": f"{_ERROR_PREFIX}{code}", "message": message}


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it ("DynamoDB item sizes and formats"), for ``SizeBytes``."""

    def value(v: dict[str, Any]) -> int:
        [(kind, inner)] = v.items()
        if kind == "S":
            return len(inner.encode())
        if kind == "N":
            digits = inner.lstrip("-").replace(".", "").strip("0") or "0"
            return (len(digits) + 1) // 2 + 1
        if kind == "B":
            return len(base64.b64decode(inner))
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "L":
            return 3 + sum(value(e) + 1 for e in inner)
        if kind == "M":
            return 3 + sum(len(k.encode()) + value(e) + 1 for k, e in inner.items())
        if kind in ("SS", "NS", "BS"):
            return sum(value({kind[0]: e}) for e in inner)
        return 0

    return sum(len(name.encode()) + value(v) for name, v in item.items())


@dataclass
class _Stream:
    table: str
    arn: str
    label: str
    view_type: str
    key_names: list[str]
    created: float = field(default_factory=time.time)
    records: list[dict[str, Any]] = field(default_factory=list)


class TableStreams:
    """The streams of the local tables, and the Streams API over them. Thread-safe."""

    def __init__(self, region: str, account: str) -> None:
        self._region = region
        self._account = account
        self._streams: dict[str, _Stream] = {}  # by table name
        self._lock = threading.Lock()
        self._sequence = 0

    # --- the tables' side ----------------------------------------------------------------

    def enable(self, table: str, specification: dict[str, Any], key_names: list[str]) -> dict[str, Any]:
        """Turn the stream on or off as ``specification`` (a table's ``StreamSpecification``) says;
        the fields DescribeTable then shows."""
        with self._lock:
            if not specification.get("StreamEnabled"):
                self._streams.pop(table, None)
                return {}
            view = str(specification.get("StreamViewType", ""))
            if view not in VIEW_TYPES:
                raise ValueError(f"StreamViewType must be one of {sorted(VIEW_TYPES)}, not {view!r}")
            stream = self._streams.get(table)
            if stream is None:
                label = time.strftime("%Y-%m-%dT%H:%M:%S.000", time.gmtime())
                arn = f"arn:aws:dynamodb:{self._region}:{self._account}:table/{table}/stream/{label}"
                stream = _Stream(table, arn, label, view, key_names)
                self._streams[table] = stream
        return self.describe_fields(table)

    def describe_fields(self, table: str) -> dict[str, Any]:
        """What DynamoDB adds to a table's description while it has a stream."""
        with self._lock:
            stream = self._streams.get(table)
        if stream is None:
            return {}
        return {
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": stream.view_type},
            "LatestStreamArn": stream.arn,
            "LatestStreamLabel": stream.label,
        }

    def has_stream(self, table: str) -> bool:
        with self._lock:
            return table in self._streams

    def record(self, table: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """One applied write: the item before it and after it (None: absent). Nothing changed, nothing recorded."""
        if old == new or (old is None and new is None):
            return
        with self._lock:
            stream = self._streams.get(table)
            if stream is None:
                return
            item = new if new is not None else old
            assert item is not None
            keys = {name: item[name] for name in stream.key_names if name in item}
            self._sequence += 1
            body: dict[str, Any] = {
                "ApproximateCreationDateTime": int(time.time()),
                "Keys": keys,
            }
            if new is not None and stream.view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
                body["NewImage"] = new
            if old is not None and stream.view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
                body["OldImage"] = old
            body["SequenceNumber"] = f"{self._sequence:021d}"
            body["SizeBytes"] = item_bytes(keys) + sum(
                item_bytes(body[i]) for i in ("NewImage", "OldImage") if i in body
            )
            body["StreamViewType"] = stream.view_type
            stream.records.append(
                {
                    "eventID": uuid.uuid4().hex,
                    "eventName": "INSERT" if old is None else ("REMOVE" if new is None else "MODIFY"),
                    "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": self._region,
                    "dynamodb": body,
                }
            )

    # --- writes to a table with a stream ----------------------------------------------

    def write(self, operation: str, params: dict[str, Any], single: SingleCall) -> tuple[int, dict[str, Any]]:
        """A ``PutItem``, ``UpdateItem`` or ``DeleteItem`` to a table with a stream: sent to the backend
        asking for the item as it was, recorded, and answered as the caller asked."""
        table = str(params["TableName"])
        asked = params.get("ReturnValues", "NONE")
        status, answer = single(operation, {**params, "ReturnValues": "ALL_OLD"})
        if status >= 300:
            return status, answer
        old = answer.pop("Attributes", None)
        if operation == "PutItem":
            new: dict[str, Any] | None = params["Item"]
        elif operation == "DeleteItem":
            new = None
        else:
            got_status, got = single("GetItem", {"TableName": table, "Key": params["Key"], "ConsistentRead": True})
            new = got.get("Item") if got_status < 300 else None
        self.record(table, old, new)
        returned = _returned(asked, old, new)
        if returned:
            answer["Attributes"] = returned
        return status, answer

    def recording(self, single: SingleCall) -> SingleCall:
        """``single``, with its writes to a table with a stream recorded (a PartiQL batch's statements)."""

        def call(operation: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            if operation in WRITES and self.has_stream(str(params.get("TableName", ""))):
                return self.write(operation, params, single)
            return single(operation, params)

        return call

    def batch_write(self, params: dict[str, Any], single: SingleCall) -> tuple[int, dict[str, Any]]:
        """A ``BatchWriteItem`` that touches a table with a stream: its requests one by one, each
        recorded; what the backend refused comes back as ``UnprocessedItems``, as DynamoDB answers."""
        unprocessed: dict[str, list[dict[str, Any]]] = {}
        for table, requests in dict(params.get("RequestItems") or {}).items():
            for request in requests:
                if "PutRequest" in request:
                    call = ("PutItem", {"TableName": table, "Item": request["PutRequest"]["Item"]})
                else:
                    call = ("DeleteItem", {"TableName": table, "Key": request["DeleteRequest"]["Key"]})
                status, answer = self.write(*call, single) if self.has_stream(table) else single(*call)
                if status >= 500 or "Throughput" in str(answer.get("__type", "")):
                    unprocessed.setdefault(table, []).append(request)
                elif status >= 300:
                    return status, answer
        return 200, {"UnprocessedItems": unprocessed}

    # --- the Streams API ---------------------------------------------------------------

    def answer(self, operation: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        handler = {
            "ListStreams": self._list_streams,
            "DescribeStream": self._describe_stream,
            "GetShardIterator": self._get_shard_iterator,
            "GetRecords": self._get_records,
        }.get(operation)
        if handler is None:
            return _error("UnknownOperationException", f"DynamoDB Streams has no operation {operation!r}")
        return handler(params)

    def _by_arn(self, arn: Any) -> _Stream | None:
        with self._lock:
            return next((s for s in self._streams.values() if s.arn == arn), None)

    def _list_streams(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            streams = [s for s in self._streams.values() if params.get("TableName") in (None, s.table)]
        return 200, {"Streams": [{"StreamArn": s.arn, "TableName": s.table, "StreamLabel": s.label} for s in streams]}

    def _describe_stream(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        stream = self._by_arn(params.get("StreamArn"))
        if stream is None:
            return _error(
                "ResourceNotFoundException",
                f"Requested resource not found: Stream: {params.get('StreamArn')} not found",
            )
        with self._lock:
            first = stream.records[0]["dynamodb"]["SequenceNumber"] if stream.records else f"{self._sequence + 1:021d}"
        return 200, {
            "StreamDescription": {
                "StreamArn": stream.arn,
                "StreamLabel": stream.label,
                "StreamStatus": "ENABLED",
                "StreamViewType": stream.view_type,
                "CreationRequestDateTime": stream.created,
                "TableName": stream.table,
                "KeySchema": [
                    {"AttributeName": name, "KeyType": "HASH" if i == 0 else "RANGE"}
                    for i, name in enumerate(stream.key_names)
                ],
                "Shards": [{"ShardId": SHARD_ID, "SequenceNumberRange": {"StartingSequenceNumber": first}}],
            }
        }

    def _get_shard_iterator(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        stream = self._by_arn(params.get("StreamArn"))
        if stream is None:
            return _error(
                "ResourceNotFoundException",
                f"Requested resource not found: Stream: {params.get('StreamArn')} not found",
            )
        if params.get("ShardId") != SHARD_ID:
            return _error(
                "ResourceNotFoundException", f"Requested resource not found: Shard: {params.get('ShardId')} not found"
            )
        kind = params.get("ShardIteratorType")
        with self._lock:
            sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in stream.records]
            if kind == "TRIM_HORIZON":
                position = 0
            elif kind == "LATEST":
                position = len(sequences)
            elif kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
                try:
                    wanted = int(str(params.get("SequenceNumber")))
                except ValueError:
                    return _error("ValidationException", "SequenceNumber must be a number")
                found = [i for i, s in enumerate(sequences) if s == wanted]
                if not found:
                    return _error("TrimmedDataAccessException", f"Sequence number {wanted} is not in the stream")
                position = found[0] + (1 if kind == "AFTER_SEQUENCE_NUMBER" else 0)
            else:
                return _error("ValidationException", f"ShardIteratorType {kind!r} is not one of the four")
        return 200, {"ShardIterator": self._iterator(stream.arn, position)}

    def _get_records(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            decoded = json.loads(base64.b64decode(str(params.get("ShardIterator", ""))))
            arn, position = decoded["arn"], int(decoded["position"])
        except (ValueError, KeyError, TypeError):
            return _error("ValidationException", "Invalid ShardIterator")
        stream = self._by_arn(arn)
        if stream is None:
            return _error("ResourceNotFoundException", f"Requested resource not found: Stream: {arn} not found")
        limit = min(int(params.get("Limit") or MAX_RECORDS_PER_CALL), MAX_RECORDS_PER_CALL)
        with self._lock:
            records = [dict(r) for r in stream.records[position : position + limit]]
        # an open shard always has a next iterator, also when nothing new came
        return 200, {"Records": records, "NextShardIterator": self._iterator(arn, position + len(records))}

    @staticmethod
    def _iterator(arn: str, position: int) -> str:
        return base64.b64encode(json.dumps({"arn": arn, "position": position}).encode()).decode()


def _returned(asked: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """``ReturnValues`` as the caller asked, from the item before and after the write."""
    if asked == "ALL_OLD":
        return old
    if asked == "ALL_NEW":
        return new
    if asked in ("UPDATED_OLD", "UPDATED_NEW"):
        before, after = old or {}, new or {}
        changed = {name for name in set(before) | set(after) if before.get(name) != after.get(name)}
        source = before if asked == "UPDATED_OLD" else after
        return {name: source[name] for name in sorted(changed) if name in source} or None
    return None
