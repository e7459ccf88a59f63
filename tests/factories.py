"""Small factories for variations of the canonical events in tests/events/."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from pathlib import Path
from typing import Any

from weir import domain
from weir.models import Event
from weir.payloads import TypedEvent

EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def envelope(**overrides: Any) -> dict[str, Any]:
    """A valid event envelope, of a type and payload the domain takes (``weir.domain.example_event``);
    keyword arguments replace or (with None) remove fields."""
    type_, payload = domain.example_event(1)
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "occurred_at": "2026-11-23T12:00:00Z",
        "partition_key": "customer-1",
        "payload": payload,
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


SHARD = "shardId-000000000000"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/weir-test-events"
# Kinesis sequence numbers are 56-digit decimals that grow within a shard.
FIRST_SEQUENCE = 49545115243490985018280067714973144582180062593244200961


def kinesis_record(data: bytes, partition_key: str, sequence: int, shard: str = SHARD) -> dict[str, Any]:
    """One record shaped like the canonical `sam local generate-event kinesis get-records` record."""
    record: dict[str, Any] = copy.deepcopy(load_event("kinesis-get-records.json")["Records"][0])
    record["kinesis"].update(
        {
            "partitionKey": partition_key,
            "data": base64.b64encode(data).decode(),
            "sequenceNumber": str(sequence),
            "approximateArrivalTimestamp": 1795437600.25,
        }
    )
    record["eventID"] = f"{shard}:{sequence}"
    record["eventSourceARN"] = STREAM_ARN
    return record


def kinesis_event(items: list[tuple[bytes, str]], first_sequence: int = FIRST_SEQUENCE) -> dict[str, Any]:
    """A Kinesis event of ``(data, partition_key)`` records with increasing sequence numbers."""
    return {"Records": [kinesis_record(data, key, first_sequence + 1000 * i) for i, (data, key) in enumerate(items)]}


def envelope_bytes(**overrides: Any) -> bytes:
    return json.dumps(envelope(**overrides)).encode()


def typed_event(**overrides: Any) -> TypedEvent[Any]:
    """:func:`envelope` as a sink receives it: validated by the domain's event types."""
    return domain.EVENT_TYPES.validate(Event.model_validate(envelope(**overrides)))
