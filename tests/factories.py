"""Small factories for variations of the canonical events in tests/events/."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def envelope(**overrides: Any) -> dict[str, Any]:
    """A valid event envelope; keyword arguments replace or (with None) remove fields."""
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "type": "order.created",
        "occurred_at": "2026-11-23T12:00:00Z",
        "partition_key": "customer-1",
        "payload": {"order_id": 1, "amount": "9.99"},
    }
    for key, value in overrides.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def http_api_event(body: Any, *, raw: bool = False, base64_body: bool = False) -> dict[str, Any]:
    """The canonical HTTP API v2 event (sam local generate-event) for POST /events with ``body``."""
    event = copy.deepcopy(load_event("http-api-proxy.json"))
    text = body if raw else json.dumps(body)
    event["routeKey"] = "POST /events"
    event["rawPath"] = "/events"
    event["rawQueryString"] = ""
    event.pop("queryStringParameters", None)
    event.pop("cookies", None)
    event["requestContext"]["http"]["path"] = "/events"
    event["requestContext"]["routeKey"] = "POST /events"
    event["headers"] = {"content-type": "application/json"}
    if text is None:
        event.pop("body", None)
        event["isBase64Encoded"] = False
    elif base64_body:
        event["body"] = base64.b64encode(text.encode() if isinstance(text, str) else text).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = text
        event["isBase64Encoded"] = False
    return event
