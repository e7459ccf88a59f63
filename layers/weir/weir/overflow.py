"""The overflow queue: storage-first spill for events the producer could not write in time.

An event the ingest API has answered 202 for must never be lost. When the stream does not take
it before the deadline, the event goes to this SQS queue, from which the redrive function puts
it back on the stream. SendMessageBatch reports failures per entry inside a 200 response, like
PutRecords: only the failed entries are sent again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from weir.backoff import Backoff
from weir.deadline import Deadline
from weir.errors import ErrorKind, classify, classify_code, error_code
from weir.texts import iso_millis

OVERFLOW_KIND = "weir.overflow"
OVERFLOW_VERSION = 1
SQS_MAX_BATCH_ENTRIES = 10
# SQS takes messages (and whole batches) of up to 1 MiB since August 2025; the queue's own
# MaximumMessageSize, set in template.yaml, is what counts and is passed in.
SQS_MAX_MESSAGE_BYTES = 1024 * 1024
# The envelope around an event (kind, version, reason, timestamps) never exceeds this.
ENVELOPE_OVERHEAD_BYTES = 2048


@dataclass(frozen=True)
class OverflowItem:
    """One event to spill, with why it could not be written to the stream."""

    event: dict[str, Any]
    error_code: str
    error_message: str

    def body(self, now: datetime) -> str:
        message = (self.error_message or "")[:512]
        return json.dumps(
            {
                "kind": OVERFLOW_KIND,
                "version": OVERFLOW_VERSION,
                "spilled_at": iso_millis(now),
                "reason": {"code": self.error_code, "message": message},
                "event": self.event,
            },
            separators=(",", ":"),
            ensure_ascii=True,  # SQS rejects some Unicode ranges; escaped JSON is always valid
        )


@dataclass
class SpillResult:
    spilled: list[bool]
    errors: dict[int, str]
    calls: int = 0


class OverflowSpiller:
    def __init__(
        self,
        client: Any,
        queue_url: str,
        call_seconds: float,
        max_attempts: int = 4,
        backoff: Backoff | None = None,
        max_message_bytes: int = SQS_MAX_MESSAGE_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not queue_url:
            raise ValueError("overflow queue URL is required")
        self._client = client
        self._queue_url = queue_url
        self._call_seconds = call_seconds
        self._max_attempts = max_attempts
        self._backoff = backoff or Backoff()
        self._max_message_bytes = max_message_bytes
        self._sleep = sleep
        self._now = now

    def spill(self, items: Sequence[OverflowItem], deadline: Deadline) -> SpillResult:
        """Send every item; the result says, per item, whether it is now in the queue."""
        now = self._now()
        bodies = [item.body(now) for item in items]
        result = SpillResult(spilled=[False] * len(items), errors={})
        pending = []
        for i, body in enumerate(bodies):
            if len(body.encode("utf-8")) > self._max_message_bytes:
                result.errors[i] = f"message is larger than the queue's {self._max_message_bytes} bytes"
            else:
                pending.append(i)
        attempts = 0
        while pending and attempts < self._max_attempts and deadline.allows(self._call_seconds):
            if attempts:
                room = deadline.remaining() - self._call_seconds
                if room <= 0:
                    break
                self._sleep(min(self._backoff.delay(attempts - 1), room))
            attempts += 1
            retry: list[int] = []
            for batch in self._batches(pending, bodies):
                if not deadline.allows(self._call_seconds):
                    retry.extend(batch)
                    continue
                retry.extend(self._send(batch, bodies, result))
            pending = retry
        for i in pending:
            result.errors.setdefault(i, "deadline or attempts exhausted")
        return result

    def _batches(self, pending: list[int], bodies: list[str]) -> list[list[int]]:
        batches: list[list[int]] = []
        current: list[int] = []
        size = 0
        for i in pending:
            body_size = len(bodies[i].encode("utf-8"))
            if current and (len(current) == SQS_MAX_BATCH_ENTRIES or size + body_size > self._max_message_bytes):
                batches.append(current)
                current, size = [], 0
            current.append(i)
            size += body_size
        if current:
            batches.append(current)
        return batches

    def _send(self, batch: list[int], bodies: list[str], result: SpillResult) -> list[int]:
        result.calls += 1
        try:
            response = self._client.send_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "MessageBody": bodies[i]} for i in batch],
            )
        except (ClientError, BotoCoreError) as exc:  # classified: transient ones are retried
            for i in batch:
                result.errors[i] = f"{error_code(exc)}: {exc}"
            return batch if classify(exc) is ErrorKind.TRANSIENT else []
        for entry in response.get("Successful", []):
            i = int(entry["Id"])
            result.spilled[i] = True
            result.errors.pop(i, None)
        retry = []
        for entry in response.get("Failed", []):
            i = int(entry["Id"])
            code = str(entry.get("Code", ""))
            result.errors[i] = f"{code}: {entry.get('Message', '')}"
            if not entry.get("SenderFault") or classify_code(code) is ErrorKind.TRANSIENT:
                retry.append(i)
        # An entry in neither list is unaccounted for: retry it rather than assume it landed.
        answered = {int(e["Id"]) for e in response.get("Successful", [])} | {
            int(e["Id"]) for e in response.get("Failed", [])
        }
        retry.extend(i for i in batch if i not in answered)
        return retry
