"""The load test's events: envelopes with fresh ids, spread over partition keys, types and payloads
from the domain (``weir.domain.example_event``), so a fork's types reach the load test unedited.
Kept apart from the locustfile, which patches the interpreter (gevent) when it is imported."""

from __future__ import annotations

import time
import uuid
from typing import Any

from weir.domain import example_event


def make_events(count: int, keys: int = 256) -> list[dict[str, Any]]:
    """``count`` envelopes, each with a fresh random event id and one of ``keys`` partition keys
    (one uuid4 an event: its random bits pick the key too)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    events = []
    for i in range(count):
        event_id = uuid.uuid4()
        type_, payload = example_event(i)
        events.append(
            {
                "event_id": f"load-{event_id}",
                "type": type_,
                "occurred_at": now,
                "partition_key": f"load-key-{event_id.int % keys}",
                "payload": payload,
            }
        )
    return events
