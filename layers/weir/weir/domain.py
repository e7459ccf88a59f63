"""The one place a fork edits: what an event's payload is, and where the consumer stores events.

Everything else in Weir works on any payload and any sink: the envelope around the payload
(``event_id``, ``type``, ``occurred_at``, ``partition_key``), the producer and its retries, the
consumer's batching, idempotency and quarantine, the failure destination and the redrive.

* :class:`Payload` is validated by the ingest API (a 400 names each field that is wrong, and
  nothing of that request is written) and again by the consumer (a record whose payload does
  not fit is quarantined with the reason).
* :func:`make_sink` is called once per consumer execution environment with the consumer's
  DynamoDB client and the function's environment, from which the sink reads its own settings
  (:class:`weir.config.EnvSettings`); the sink's ``store`` is called once per valid event (see
  :mod:`weir.consumer.sink` for what it must guarantee).

The core never imports this module when it is imported itself (weir.models looks ``Payload`` up
when it validates an event), so this module may import anything in the core.

docs/fork-guide.md replaces both with an example; tests/unit/test_fork_guide.py runs that example.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from weir.config import EnvSettings
from weir.consumer.dynamodb_sink import DynamoDBEventSink
from weir.consumer.sink import EventSink


class Payload(BaseModel):
    """An event's ``payload``. Weir's own: any JSON object, kept exactly as sent."""

    model_config = ConfigDict(extra="allow", frozen=True)


def example_payload(n: int) -> dict[str, Any]:
    """The ``n``-th of a series of payloads that fit :class:`Payload`: the tests' sample events and the
    load test's events are built with it, so a fork's new schema reaches them with no other edit."""
    return {"n": n, "note": f"example {n}"}


class SinkSettings(EnvSettings):
    """What Weir's own sink reads from the environment (template.yaml sets it)."""

    events_table_name: str = Field(alias="EVENTS_TABLE_NAME", min_length=1)


def make_sink(dynamodb: Any, environ: Mapping[str, str]) -> EventSink:
    """Weir's own sink: one item per event in the events table, the first copy kept.

    ``dynamodb`` is the consumer's DynamoDB client: explicit timeouts and retries, and the
    conditional puts of concurrent key threads coalesced into batch calls (weir.coalesce).
    """
    return DynamoDBEventSink(dynamodb, SinkSettings.from_env(environ).events_table_name)
