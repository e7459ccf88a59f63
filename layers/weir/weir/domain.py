"""The one place a fork edits: the event types a stream takes, and where the consumer stores events.

Everything else in Weir works on any payload and any sink: the envelope around the payload
(``event_id``, ``type``, ``occurred_at``, ``partition_key``), the producer and its retries, the
consumer's batching, exactly-once storing and quarantine, the failure destination and the redrive.
The handlers in ``functions/`` hand these names to the core (no core module imports this one), so
this module may import anything in the core.

* :data:`EVENT_TYPES` — the payload model of each event type. The ingest API validates every event
  with it (a 400 names each field that is wrong, or the type it does not take, and nothing of that
  request is written) and so does the consumer (a record that does not fit is quarantined with the
  reason). Weir's own takes any type, with any JSON object as its payload.
* :func:`make_sink` — called once per execution environment of the consumer (and of the breaker
  function, which calls only its probe) with the function's :class:`weir.consumer.sink.SinkParts`;
  the sink reads its own settings from their environment (an :class:`weir.config.EnvSettings`).
  Weir's own stores one item per event in the events table.
* :func:`example_event` — the ``n``-th of a series of events (type and payload) that fit: the tests'
  sample events and the load test's are built with it, so a fork's types reach them with no edit.

docs/fork-guide.md replaces all three with an example; tests/unit/test_fork_guide.py runs it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from weir.config import EnvSettings
from weir.consumer.dynamodb_sink import DynamoDBEventSink
from weir.consumer.sink import EventSink, SinkParts
from weir.payloads import EventTypes


class Payload(BaseModel):
    """An event's ``payload``. Weir's own: any JSON object, kept exactly as sent."""

    model_config = ConfigDict(extra="allow", frozen=True)


# Any type: Weir's sample stream names its types as it goes (make run's demo.steady, demo.burst, ...).
EVENT_TYPES = EventTypes({}, other=Payload)


def example_event(n: int) -> tuple[str, dict[str, Any]]:
    """The ``n``-th of a series of events that fit :data:`EVENT_TYPES`, as (type, payload)."""
    return "example.recorded", {"n": n, "note": f"example {n}"}


class SinkSettings(EnvSettings):
    """What Weir's own sink reads from the environment (template.yaml sets it)."""

    events_table_name: str = Field(alias="EVENTS_TABLE_NAME", min_length=1)
    # How long an event is kept (EventsRetentionDays); 0: for ever. Events are stored once per
    # event_id while they are kept: a copy that arrives later is stored again.
    events_retention_days: int = Field(0, alias="EVENTS_RETENTION_DAYS", ge=0, le=36_500)


def make_sink(parts: SinkParts) -> EventSink:
    """Weir's own sink: one item per event in the events table, the first copy kept, its puts
    coalesced with the other key threads' (weir.coalesce)."""
    settings = SinkSettings.from_env(parts.environ)
    table = settings.events_table_name
    retention = settings.events_retention_days * 86_400 or None
    return DynamoDBEventSink(parts.dynamodb(coalesce={table: DynamoDBEventSink.KEY}), table, retention)
