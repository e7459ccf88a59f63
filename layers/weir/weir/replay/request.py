"""What one replay invocation is asked to do."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from weir.texts import iso_millis


class ReplayRequest(BaseModel):
    """``{"from": ISO 8601, "to": ISO 8601}`` replays every record that arrived on the stream in
    [from, to); the rest narrows or changes what is done."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    source: Literal["stream", "archive"] = "stream"
    dry_run: bool = False  # read and report; put nothing, keep no place
    types: tuple[str, ...] = ()  # only events of these types (empty: every type)
    partition_key: str | None = None  # only events of this partition key
    # Put back events the events table already holds too: a new consumer of the stream needs them
    # (the process consumer stores none of them twice). Without it only missing events go back.
    every_event: bool = False
    # The aggregates count what the replay stores anew: for events that were never stored (a
    # consumer bug). Without it they do not: the events a restored sink lost were counted once.
    recount: bool = False
    report_ids: bool = False  # answer with the event ids put back (make replay reconciles them)
    max_records: int | None = Field(default=None, ge=1)  # stop after this many records read

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2026-11-23T12:00:00Z")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> ReplayRequest:
        if self.start >= self.end:
            raise ValueError(f"from ({iso_millis(self.start)}) must be before to ({iso_millis(self.end)})")
        return self

    def fingerprint(self) -> str:
        """What names this replay's place: the range and everything that changes what is put back
        (not dry_run, report_ids or max_records, which change how one run goes)."""
        what = {
            "from": iso_millis(self.start),
            "to": iso_millis(self.end),
            "source": self.source,
            "types": sorted(self.types),
            "partition_key": self.partition_key,
            "every_event": self.every_event,
            "recount": self.recount,
        }
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:32]

    def wants(self, envelope: dict[str, Any], partition_key: str) -> bool:
        if self.types and envelope.get("type") not in self.types:
            return False
        return self.partition_key is None or partition_key == self.partition_key


def parse_request(event: Any) -> ReplayRequest:
    """The invocation event as a request; an invalid one raises ValueError naming the field."""
    try:
        return ReplayRequest.model_validate(event if isinstance(event, dict) else {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"invalid replay request: {problems}") from None
