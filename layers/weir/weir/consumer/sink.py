"""What the consumer stores events through: the protocol a sink meets.

A sink is called once per valid event, inside Powertools idempotency, from several threads at once
(one per partition key being handled). It must be safe to call again with the same event: a
repeat after an idempotency record expires, or after a crash between the write and the
idempotency record's completion, has to leave one copy.
"""

from __future__ import annotations

from typing import Any, Protocol


class EventSink(Protocol):
    """Where processed events go. Raise for a transient failure; the record is then retried."""

    def store(self, event: dict[str, Any]) -> bool: ...
