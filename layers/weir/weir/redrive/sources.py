"""The places failed records wait, seen as items: one SQS message or one S3 object each.

Every source hands out items, turns an item into the records to put back, and then, for each
item, does exactly one of: ``done`` (all its records are back on the stream), ``release`` (leave
it for a later run) or ``unrecoverable`` (park it, with the reason, where an operator sees it).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from weir.deadline import Deadline
from weir.failures import MalformedFailureRecord, parse_failure_record, read_range
from weir.producer import Record
from weir.redrive.request import RedriveRequest, SourceName


@dataclass
class Item:
    source: SourceName
    ref: str
    body: bytes  # as the source holds it: an SQS message body (maybe a pointer), an S3 object
    received_at: datetime
    handle: Any = None
    object_key: str | None = None  # the S3 object behind a pointer message, once resolved


class Source(Protocol):
    name: SourceName

    def items(self, request: RedriveRequest, deadline: Deadline) -> Generator[Item, None, None]: ...

    def records(self, item: Item) -> list[Record]: ...

    def done(self, item: Item) -> None: ...

    def release(self, item: Item) -> None: ...

    def unrecoverable(self, item: Item, reason: str) -> None: ...

    def let_go(self) -> None:
        """Give back whatever the run still holds (an SQS source makes it visible again); called once
        the run is done with the source, whatever happened, and safe to call twice."""
        ...

    @property
    def drained(self) -> bool:
        """True when the last ``items`` saw the source to its end (not stopped, not uncertain)."""
        ...

    def remaining(self) -> int:
        """About how many items are still waiting (after this run's are released)."""
        ...


# --- what an item's body holds -----------------------------------------------------------------

ToRecords = Callable[[bytes], list[Record]]


def s3_failure_records(body: bytes) -> list[Record]:
    failure = parse_failure_record(body)
    if failure.records is None:
        raise MalformedFailureRecord("an S3 failure object without payload")
    return [Record(r.data, r.partition_key) for r in failure.records]


def sqs_failure_records(kinesis: Any) -> ToRecords:
    """A pointer's records, read back from the stream (they may have expired)."""

    def to_records(body: bytes) -> list[Record]:
        failure = parse_failure_record(body)
        return [Record(r.data, r.partition_key) for r in read_range(kinesis, failure.batch)]

    return to_records


def quarantine_records(body: bytes) -> list[Record]:
    try:
        record = json.loads(body)["record"]
        return [Record(base64.b64decode(record["data"]), str(record["partition_key"]))]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedFailureRecord(f"not a quarantine message: {exc}") from None


def overflow_records(body: bytes) -> list[Record]:
    try:
        event = json.loads(body)["event"]
        key = event.get("partition_key") or event["event_id"]
        return [Record(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode(), str(key))]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedFailureRecord(f"not an overflow message: {exc}") from None
