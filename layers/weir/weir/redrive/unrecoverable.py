"""The visible place for what cannot be redriven: an SQS queue, with the reason, and an alarm."""

from __future__ import annotations

import json
from typing import Any

from weir.large_messages import LargeMessageStore
from weir.texts import iso_millis

UNRECOVERABLE_KIND = "weir.unrecoverable"


class UnrecoverableSink:
    def __init__(self, sqs: Any, queue_url: str, bodies: LargeMessageStore) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._bodies = bodies

    def put(self, source: str, ref: str, reason: str, body: str | None) -> None:
        """Park an item. ``body`` is the item's message as it was in its queue (a pointer stays a
        pointer); a wrapped body over SQS's limit goes through S3 like any large message."""
        summary = {"source": source, "ref": ref, "reason": reason[:2000]}
        message = {
            "kind": UNRECOVERABLE_KIND,
            **summary,
            "moved_at": iso_millis(),
            "body": body,
        }
        self._bodies.send(self._sqs, self._url, json.dumps(message), {"kind": UNRECOVERABLE_KIND, **summary})
