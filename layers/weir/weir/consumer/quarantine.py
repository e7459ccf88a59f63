"""Where the consumer puts poison records: the quarantine queue (large bodies through S3)."""

from __future__ import annotations

import json
from typing import Any

from weir.large_messages import LargeMessageStore


class SqsQuarantine:
    """The quarantine queue; a message larger than SQS takes (a poison record near the record size
    limit, base64-encoded) goes through S3 with a pointer in the queue (weir.large_messages)."""

    def __init__(self, client: Any, queue_url: str, bodies: LargeMessageStore) -> None:
        self._client = client
        self._queue_url = queue_url
        self._bodies = bodies

    def put(self, body: str) -> None:
        self._bodies.send(self._client, self._queue_url, body, _summary(body))


def _summary(body: str) -> dict[str, Any]:
    """What a pointer message keeps of a quarantine message: all of it but the record's data."""
    document = json.loads(body)
    record = {k: v for k, v in document.get("record", {}).items() if k != "data"}
    return {k: v for k, v in document.items() if k != "record"} | {"record": record}
