"""What one redrive invocation is asked to do."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SourceName = Literal["s3-failures", "sqs-failures", "quarantine", "overflow"]
ALL_SOURCES: tuple[SourceName, ...] = ("s3-failures", "sqs-failures", "quarantine", "overflow")


class RedriveRequest(BaseModel):
    """``{}`` redrives everything from every source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dry_run: bool = False
    max_items: int | None = Field(default=None, ge=1)
    sources: tuple[SourceName, ...] = ALL_SOURCES
    since: datetime | None = None
    until: datetime | None = None

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2026-11-23T12:00:00Z")
        return value

    def in_window(self, moment: datetime) -> bool:
        return (self.since is None or moment >= self.since) and (self.until is None or moment <= self.until)


def parse_request(event: Any) -> RedriveRequest:
    """The invocation event as a request; an invalid one raises ValueError naming the field."""
    try:
        return RedriveRequest.model_validate({} if event is None else event)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"invalid redrive request: {problems}") from None
