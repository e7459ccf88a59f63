"""SubscribeToShard, which kinesalite lacks: records pushed to a registered consumer over an event stream.

AWS answers SubscribeToShard with an event stream (``application/vnd.amazon.eventstream``): an
``initial-response`` event, then ``SubscribeToShardEvent`` events carrying ``Records``,
``ContinuationSequenceNumber`` and ``MillisBehindLatest`` (and ``ChildShards`` once the shard is
closed and read to its end), for up to five minutes, after which the consumer subscribes again from
the continuation sequence number ("SubscribeToShard", Kinesis API reference). One subscription per
consumer and shard at a time: a second one is ResourceInUseException. Here the gateway reads the shard
from kinesalite with GetRecords (its own reads, outside the shard's shared read limits, as a consumer's
2 MiB/s are its own) and sends an event when records arrive, and an empty one each second the shard is
idle. Each message is framed as the event stream format says: prelude (total and headers length, CRC32),
headers, payload, CRC32 of the whole.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

SUBSCRIPTION_SECONDS = 300.0  # AWS closes a subscription after 5 minutes
POLL_SECONDS = 0.2
IDLE_EVENT_SECONDS = 1.0
CONTENT_TYPE = "application/vnd.amazon.eventstream"


def _string_header(name: str, value: str) -> bytes:
    name_bytes, value_bytes = name.encode(), value.encode()
    return bytes([len(name_bytes)]) + name_bytes + b"\x07" + struct.pack(">H", len(value_bytes)) + value_bytes


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event stream message."""
    header_bytes = b"".join(_string_header(name, value) for name, value in headers.items())
    prelude = struct.pack(">II", 12 + len(header_bytes) + len(payload) + 4, len(header_bytes))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + header_bytes + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = {":message-type": "event", ":event-type": event_type, ":content-type": "application/json"}
    return frame(headers, json.dumps(payload).encode())


def exception(code: str, message: str) -> bytes:
    headers = {":message-type": "exception", ":exception-type": code, ":content-type": "application/json"}
    return frame(headers, json.dumps({"message": message}).encode())


def subscription(
    get_records: Callable[[str], tuple[int, dict[str, Any]]],
    iterator: str,
    continuation: str,
    *,
    seconds: float = SUBSCRIPTION_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bytes]:
    """The messages of one subscription, read from the shard with ``get_records(iterator)``."""
    yield event("initial-response", {})
    ends = clock() + seconds
    last_event = clock()
    while clock() < ends:
        status, answer = get_records(iterator)
        if status != 200:
            yield exception(str(answer.get("__type", "InternalFailure")), str(answer.get("message", "")))
            return
        records = answer.get("Records", [])
        if records:
            continuation = records[-1]["SequenceNumber"]
        body: dict[str, Any] = {
            "Records": records,
            "ContinuationSequenceNumber": continuation,
            "MillisBehindLatest": answer.get("MillisBehindLatest", 0),
        }
        next_iterator = answer.get("NextShardIterator")
        if not next_iterator:  # the shard is closed and read to its end
            body["ChildShards"] = answer.get("ChildShards", [])
            yield event("SubscribeToShardEvent", body)
            return
        iterator = next_iterator
        if records or clock() - last_event >= IDLE_EVENT_SECONDS:
            yield event("SubscribeToShardEvent", body)
            last_event = clock()
        if not records:
            sleep(POLL_SECONDS)
