"""How Weir writes two things it writes in many places: a moment, and what pydantic found wrong."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import ValidationError


def iso_millis(moment: datetime | None = None) -> str:
    """``2026-12-02T10:00:00.123Z``: UTC, milliseconds (now, without an argument)."""
    value = (moment or datetime.now(UTC)).astimezone(UTC)
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_moment(text: str) -> datetime:
    """An RFC 3339 date-time (as the envelope's checked ones are) as an aware datetime."""
    moment = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.replace("z", "Z")))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def field_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """A pydantic error location as a path a user reads: ``events[2].payload.amount``."""
    path = prefix
    for part in loc:
        path = f"{path}[{part}]" if isinstance(part, int) else (f"{path}.{part}" if path else str(part))
    return path or "(body)"


def problems(exc: ValidationError) -> str:
    """Every error of a validation, ``path: message; path: message``."""
    return "; ".join(f"{field_path(error['loc'])}: {error['msg']}" for error in exc.errors())
