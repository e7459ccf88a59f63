"""What the consumer stores events through: what a sink promises, and what it is given to be made.

The domain's ``make_sink(parts)`` (weir.domain) makes the sink once per execution environment, from a
:class:`SinkParts`: the function's environment, from which the sink reads its own settings (an
:class:`weir.config.EnvSettings` of its own), and clients with the function's explicit timeouts and
retries. The sink declares what the core needs to know of it:

* ``idempotent`` — True when ``store`` itself keeps one copy per ``event_id`` (a conditional write
  keyed on it, as Weir's own sink does): the consumer then calls it directly, and a duplicate costs
  that one conditional write. False when a second call would repeat a side effect (a message sent,
  a row appended): the consumer then calls it inside Powertools idempotency, whose record per event
  costs two more writes (docs/consumer.md, "Exactly once, and what it costs").
* ``probe()`` — whether the sink's write path is healthy, for the circuit breaker; it must leave
  nothing a reader of the sink would see.
* whether its writes may be coalesced: by asking :meth:`SinkParts.dynamodb` to coalesce its table.

``store`` is called from several threads at once (one per partition key in flight).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from weir import aws
from weir.aws import ClientSettings
from weir.coalesce import CoalescingDynamoDB
from weir.payloads import TypedEvent


class EventSink(Protocol):
    """Where processed events go. ``store`` answers True when this call stored the event and False
    when it was already there, and raises for a transient failure (the record is then retried)."""

    @property
    def idempotent(self) -> bool: ...

    def store(self, event: TypedEvent[Any]) -> bool: ...

    def probe(self) -> bool: ...


@dataclass(frozen=True)
class SinkParts:
    """What a function hands the domain's ``make_sink``: its environment and its clients."""

    environ: Mapping[str, str]
    settings: ClientSettings
    coalescer: CoalescingDynamoDB | None = None

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` with the function's timeouts and retries."""
        return aws.client(service, self.settings)

    def dynamodb(self, coalesce: Mapping[str, str] | None = None) -> Any:
        """A DynamoDB client. ``coalesce`` maps tables to their partition key attribute: a put into one
        of them conditioned on ``attribute_not_exists(<key>)`` shares a batch call with the other key
        threads' writes (weir.coalesce) while the function coalesces writes (``ConsumerWriteCoalescing``)."""
        if self.coalescer is None:
            return self.client("dynamodb")
        for table, key in (coalesce or {}).items():
            self.coalescer.coalesce(table, key)
        return self.coalescer
