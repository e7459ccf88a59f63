"""A tumbling window as the mapping delivers it, the state carried between its invocations, and a
record as the window counts it."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from weir.models import Event
from weir.payloads import EventTypes

POISON_TYPE = "(poison)"


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


def read_record(record: Mapping[str, Any], event_types: EventTypes) -> Counted:
    """What a record counts as: its event's type, or poison where the first consumer would quarantine
    it (not an envelope, a type the stream does not take, a payload that does not fit)."""
    kinesis = record.get("kinesis", {})
    owner = str(record.get("eventID") or f"{kinesis.get('sequenceNumber')}")
    try:
        event = Event.model_validate_json(base64.b64decode(kinesis.get("data", ""), validate=True))
        event_types.validate(event)
    except (ValueError, ValidationError):  # EventRejected is a ValueError
        return Counted(None, POISON_TYPE, owner)
    return Counted(event.event_id, event.type, owner)
