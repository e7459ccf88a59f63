"""An ingest request: its body, size-checked; its events, validated, every bad field named; the
answer's shape."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from weir.models import Event, EventIn, stamp
from weir.payloads import EventRejected, EventTypes
from weir.texts import field_path

JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class ApiResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON_HEADERS))

    def to_api(self) -> dict[str, Any]:
        """The HTTP API (payload format 2.0) Lambda proxy response."""
        return {
            "statusCode": self.status,
            "headers": self.headers,
            "body": json.dumps(self.body, separators=(",", ":")),
            "isBase64Encoded": False,
        }


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class RequestRejected(Exception):
    """The request cannot be taken as it is; nothing of it is written."""

    def __init__(self, status: int, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []

    def response(self) -> ApiResponse:
        body: dict[str, Any] = {"message": self.message}
        if self.status == 400:
            # Every 400 names what is wrong in the same shape; a problem with the body as a whole
            # names the field "(body)".
            errors = self.errors or [FieldError("(body)", self.message)]
            body["errors"] = [e.to_json() for e in errors]
        return ApiResponse(self.status, body)


def decode_body(body: str | None, is_base64: bool, max_bytes: int) -> bytes:
    """The raw request body, size-checked before anything is parsed."""
    if body is None or body == "":
        raise RequestRejected(400, 'request body is empty; send one event or {"events": [...]}')
    if is_base64:
        # base64 is 4/3 of the decoded size: refuse an obviously oversize body before decoding it.
        if len(body) > (max_bytes * 4) // 3 + 4:
            raise RequestRejected(413, f"request body is larger than {max_bytes} bytes")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise RequestRejected(400, "request body is marked base64 but is not valid base64") from None
    else:
        raw = body.encode("utf-8")
    if len(raw) > max_bytes:
        raise RequestRejected(413, f"request body is {len(raw)} bytes; the limit is {max_bytes}")
    return raw


def parse_events(raw: bytes, max_events: int, event_types: EventTypes) -> list[Event]:
    """Validate every event of the request, its payload by its type's model; raise with every field
    error at once."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestRejected(400, f"request body is not valid JSON: {exc}") from None

    if isinstance(document, dict) and "events" in document:
        extra = sorted(set(document) - {"events"})
        if extra:
            raise RequestRejected(
                400, "invalid request", [FieldError(name, "unexpected field next to 'events'") for name in extra]
            )
        items = document["events"]
        if not isinstance(items, list):
            raise RequestRejected(400, "invalid request", [FieldError("events", "must be a list of events")])
        if not items:
            raise RequestRejected(400, "invalid request", [FieldError("events", "must hold at least one event")])
        prefixes = [f"events[{i}]" for i in range(len(items))]
    elif isinstance(document, dict):
        items, prefixes = [document], [""]
    else:
        raise RequestRejected(400, 'request body must be a JSON object: one event or {"events": [...]}')

    if len(items) > max_events:
        raise RequestRejected(413, f"request holds {len(items)} events; the limit is {max_events}")

    errors: list[FieldError] = []
    events: list[Event] = []
    for prefix, item in zip(prefixes, items, strict=True):
        if not isinstance(item, dict):
            errors.append(FieldError(prefix or "(body)", "must be a JSON object"))
            continue
        try:
            event = stamp(EventIn.model_validate(item))
            event_types.validate(event)
        except ValidationError as exc:
            errors.extend(FieldError(field_path(err["loc"], prefix), err["msg"]) for err in exc.errors())
        except EventRejected as rejected:
            errors.extend(FieldError(field_path(loc, prefix), message) for loc, message in rejected.problems)
        else:
            events.append(event)
    seen: dict[str, str] = {}
    for prefix, event in zip(prefixes, events, strict=False) if not errors else ():
        if event.event_id in seen:
            errors.append(FieldError(field_path(("event_id",), prefix), f"duplicates {seen[event.event_id]}"))
        else:
            seen[event.event_id] = field_path(("event_id",), prefix)
    if errors:
        raise RequestRejected(400, "invalid request; nothing was written", errors)
    return events
