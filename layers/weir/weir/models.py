"""The event envelope: one JSON object per Kinesis record.

``{"event_id": str (1-128, unique), "type": str, "occurred_at": RFC 3339, "partition_key": str
(optional), "payload": object}``. The producer stamps ``event_id`` when the client leaves it out;
the consumer stores each ``event_id`` once.

The envelope is the core's and the same for every stream; what a payload holds is the domain's
(weir.payloads, weir.domain), which this module never imports.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictStr

# RFC 3339 section 5.6 date-time: a full date, a full time and a mandatory offset.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: str) -> str:
    if not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-23T12:00:00Z")
    try:
        # fromisoformat checks the calendar (no 2026-02-30); it wants at most 6 fraction digits.
        normalised = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("z", "Z"))
        datetime.fromisoformat(normalised)
    except ValueError as exc:
        raise ValueError(f"is not a valid date-time: {exc}") from None
    return value


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must contain only printable characters")
    return value


EventId = Annotated[StrictStr, Field(min_length=1, max_length=128), AfterValidator(_printable)]
PartitionKey = Annotated[StrictStr, Field(min_length=1, max_length=256)]


class EventIn(BaseModel):
    """An envelope as a client sends it (``event_id`` may be missing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: EventId | None = None
    type: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    occurred_at: Annotated[StrictStr, AfterValidator(_rfc3339)]
    partition_key: PartitionKey | None = None
    # A JSON object here; what it holds is the event type's (weir.payloads.EventTypes, declared by
    # the domain and validated by the API and the consumer).
    payload: dict[str, Any]


Rfc3339 = Annotated[StrictStr, AfterValidator(_rfc3339)]


class Event(EventIn):
    """An envelope as it travels on the stream: ``event_id`` is always there; ``accepted_at`` (when the
    API took it) and ``trace_id`` (the X-Ray trace of the ingest invocation that took it) are stamped by
    the ingest function; ``origin`` says who put it on the stream again ("redrive", "replay"; absent for
    the API's own write), so that latency and counts tell live events from re-put ones.

    A field this version does not know is kept, not refused: a newer writer's field passes through an
    older reader to the sink instead of making every new record poison. Readers that keep unknown fields
    must be running before writers send a new one (template.yaml: the ingest function DependsOn the
    functions that read the stream; docs/consumer.md, "A new envelope field")."""

    model_config = ConfigDict(extra="allow", frozen=True)

    event_id: EventId
    accepted_at: Rfc3339 | None = None
    # Not checked for X-Ray's form: a writer that carries another trace format must not make records poison.
    trace_id: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None
    # Free text for the same reason: an older reader meets a newer writer's origin and counts it as re-put.
    origin: Annotated[StrictStr, Field(min_length=1, max_length=32)] | None = None
    # Set by a replay on events the aggregates counted already (weir.origin.COUNTED_BEFORE).
    counted_before: StrictBool | None = None

    @property
    def key(self) -> str:
        """The partition key; without one, the event id spreads events over every shard."""
        return self.partition_key or self.event_id

    def to_document(self) -> dict[str, Any]:
        """The envelope as JSON data, the optional fields left out where unset (the payload as sent)."""
        return {name: value for name, value in self.model_dump(mode="json").items() if value is not None}

    def to_record_data(self) -> bytes:
        return json.dumps(self.to_document(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def stamp(event: EventIn) -> Event:
    """The envelope with an ``event_id``: the client's, or a new random one."""
    data = event.model_dump()
    if data["event_id"] is None:
        data["event_id"] = str(uuid.uuid4())
    return Event.model_validate(data)
