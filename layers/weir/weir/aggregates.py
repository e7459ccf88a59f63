"""The second consumer: per-window counts of events by type, exactly once per ``event_id``.

The event source mapping's tumbling windows (``TumblingWindowInSeconds``) carry the counts between
invocations as the window's ``state``; at the window's end (``isFinalInvokeForWindow``), or when the
state grew past 1 MB (``isWindowTerminatedEarly``), the counts are committed to the aggregates table.
docs/aws-facts.md ("Tumbling windows") holds what AWS documents about them.

Exactly once, whatever is delivered twice:

* **A claim per event id.** Before a record is counted, its ``event_id`` is claimed in the claims table
  for that record (``shard:sequence``). The same record delivered again (a retry, a bisection, the
  next attempt after a failure) claims it again and is counted again *in a state that did not count
  it*: a failed invocation's state is dropped, so the window restarts from the last state that
  succeeded. Another record with the same ``event_id`` (posted twice, redriven, read again from a
  child shard) finds the claim taken and is not counted.
* **A commit per window segment.** A window's counts are added to each type's item with a condition
  that this segment (the shard and the first record the state counted) has not been added before:
  a final invocation that is retried adds nothing twice.

A record that is not an envelope is counted as ``(poison)`` and never fails the window.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError
from pydantic import ValidationError

from weir.models import Event

POISON_TYPE = "(poison)"
CLAIM_THREADS = 16


@dataclass(frozen=True)
class Window:
    start: str  # ISO 8601, as the event's window.start
    end: str
    shard_id: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Window:
        window = event.get("window")
        if not isinstance(window, Mapping) or not window.get("start") or not window.get("end"):
            raise ValueError("not a tumbling-window event: no window.start and window.end (TumblingWindowInSeconds 0?)")
        return cls(str(window["start"]), str(window["end"]), str(event.get("shardId", "")))


@dataclass
class WindowState:
    """What the mapping carries between invocations of one window: the counts so far, and the
    segment they belong to (the first record counted, so that a commit is recognised if repeated)."""

    counts: dict[str, int] = field(default_factory=dict)
    segment: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> WindowState:
        if not isinstance(data, Mapping) or not data:
            return cls()
        counts = data.get("counts", {})
        if not isinstance(counts, Mapping) or not all(isinstance(v, int) for v in counts.values()):
            raise ValueError(f"window state: counts must map types to integers, got {counts!r}")
        segment = data.get("segment")
        return cls({str(k): int(v) for k, v in counts.items()}, str(segment) if segment else None)

    def to_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "segment": self.segment} if self.counts or self.segment else {}


@dataclass(frozen=True)
class Counted:
    """A record the window counts: its event id (None for poison), type, and its identity on the stream."""

    event_id: str | None
    type: str
    owner: str  # shard:sequence


class Claims(Protocol):
    def claim(self, records: list[Counted]) -> set[str]:
        """The owners of ``records`` whose event id is theirs: claimed now, or before by the same record."""


class AggregateStore(Protocol):
    def commit(self, window: Window, counts: Mapping[str, int], segment: str) -> None:
        """Add ``counts`` to the window's items, once per ``segment``."""


class AggregatesService:
    """One invocation of the aggregates consumer: count, claim, and commit at the window's end."""

    def __init__(self, claims: Claims, store: AggregateStore) -> None:
        self._claims = claims
        self._store = store

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        window = Window.from_event(event)
        state = WindowState.from_json(event.get("state"))
        counted = [_read(record) for record in event.get("Records", [])]
        if counted and state.segment is None:
            state.segment = counted[0].owner
        valid = [c for c in counted if c.event_id is not None]
        owned = self._claims.claim(valid) if valid else set()
        for item in counted:
            if item.event_id is None or item.owner in owned:
                state.counts[item.type] = state.counts.get(item.type, 0) + 1
        if event.get("isFinalInvokeForWindow") or event.get("isWindowTerminatedEarly"):
            if state.counts:
                self._store.commit(window, state.counts, state.segment or f"{window.shard_id}:{window.start}")
            return {"state": {}, "batchItemFailures": []}
        return {"state": state.to_json(), "batchItemFailures": []}


def _read(record: Mapping[str, Any]) -> Counted:
    kinesis = record.get("kinesis", {})
    owner = str(record.get("eventID") or f"{kinesis.get('sequenceNumber')}")
    try:
        event = Event.model_validate_json(base64.b64decode(kinesis.get("data", ""), validate=True))
    except (ValueError, ValidationError):
        return Counted(None, POISON_TYPE, owner)
    return Counted(event.event_id, event.type, owner)


# --- DynamoDB -------------------------------------------------------------------------------


class DynamoDBClaims:
    """Claims as conditional writes, one per record, several at once: ``event_id`` -> ``owner``,
    kept ``ttl_seconds`` (longer than a record can be delivered again)."""

    def __init__(self, client: Any, table: str, ttl_seconds: int, threads: int = CLAIM_THREADS) -> None:
        self._client = client
        self._table = table
        self._ttl = ttl_seconds
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="claims")

    def claim(self, records: list[Counted]) -> set[str]:
        expires = int(time.time()) + self._ttl
        results = self._pool.map(lambda c: self._claim_one(c, expires), records)
        return {owner for owner in results if owner is not None}

    def _claim_one(self, counted: Counted, expires: int) -> str | None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "event_id": {"S": counted.event_id},
                    "owner": {"S": counted.owner},
                    "expires_at": {"N": str(expires)},
                },
                ConditionExpression="attribute_not_exists(event_id) OR #owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": counted.owner}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None  # another record of this event id holds it
            raise
        return counted.owner


class DynamoDBAggregates:
    """One item per window and type: ``window_start`` (key), ``type`` (sort key), ``count``,
    ``window_end`` and ``segments`` (what has been added, so that nothing is added twice)."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def commit(self, window: Window, counts: Mapping[str, int], segment: str) -> None:
        for type_, count in sorted(counts.items()):
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key={"window_start": {"S": window.start}, "type": {"S": type_}},
                    UpdateExpression="ADD #count :n, #segments :segment SET window_end = :end",
                    ConditionExpression="attribute_not_exists(#segments) OR NOT contains(#segments, :id)",
                    ExpressionAttributeNames={"#count": "count", "#segments": "segments"},  # reserved words
                    ExpressionAttributeValues={
                        ":n": {"N": str(count)},
                        ":segment": {"SS": [segment]},
                        ":id": {"S": segment},
                        ":end": {"S": window.end},
                    },
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise  # the whole commit is retried; the types already added are skipped then


def totals(items: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Counts per type over the aggregates table's items (as DynamoDB returns them)."""
    found: dict[str, int] = {}
    for item in items:
        found[item["type"]["S"]] = found.get(item["type"]["S"], 0) + int(item["count"]["N"])
    return found
