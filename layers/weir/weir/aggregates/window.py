"""A tumbling window as the mapping delivers it, the state carried between its invocations, and a
change record of the events table as the window counts it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The type an event stored without one is counted as (Weir's sink always stores it).
UNTYPED = "(no type)"


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
    """A stored event the window counts: its type, and where its change record sits on the table's
    stream (``shard:sequence``), so that a segment of the window is known by its first record."""

    type: str
    position: str
    accepted_at: str | None = None  # the event's, as stored (None for an event stored before the stamp)
    origin: str | None = None  # the event's: None for the API's own write, else "redrive" or "replay"


def read_record(record: Mapping[str, Any], shard_id: str) -> Counted | None:
    """What a change record of the events table counts as: the stored event's type, or None for a
    record that is not a new item (the mapping's filter passes INSERTs only; a MODIFY or REMOVE
    that came anyway is not a stored event), or for an event a replay stored again whose count the
    aggregates already hold (``counted_before``)."""
    if record.get("eventName") != "INSERT":
        return None
    change = record.get("dynamodb", {})
    image = change.get("NewImage") or {}
    counted_before = image.get("counted_before")
    if isinstance(counted_before, Mapping) and counted_before.get("BOOL") is True:
        return None  # a replay put back an event the aggregates hold already (weir.origin)
    type_ = _text(image, "type")
    return Counted(
        type_ or UNTYPED,
        f"{shard_id}:{change.get('SequenceNumber')}",
        _text(image, "accepted_at"),
        _text(image, "origin"),
    )


def _text(image: Mapping[str, Any], name: str) -> str | None:
    """A string attribute of an item's image (``{"S": ...}``), or None."""
    value = image.get(name)
    text = value.get("S") if isinstance(value, Mapping) else None
    return str(text) if text else None
