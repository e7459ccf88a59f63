"""The overflow queue: storage-first spill for events the producer could not write in time.

An event the ingest API has answered 202 for must never be lost. When the stream does not take
it before the deadline, the event goes to this SQS queue, from which the redrive function puts
it back on the stream. SendMessageBatch reports failures per entry inside a 200 response, like
PutRecords: only the failed entries are sent again, in the producer's rounds (weir.resubmit).
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
from weir.resubmit import EntryOutcome, Retries, Round, resubmit
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
    """One outcome per item: ``ok`` when it is in the queue, else the last error."""

    outcomes: list[EntryOutcome]
    calls: int = 0

    @property
    def spilled(self) -> list[bool]:
        return [outcome.ok for outcome in self.outcomes]


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
        self._retries = Retries(max_attempts, backoff or Backoff())
        self._max_message_bytes = max_message_bytes
        self._sleep = sleep
        self._now = now

    def spill(self, items: Sequence[OverflowItem], deadline: Deadline) -> SpillResult:
        """Send every item; the result says, per item, whether it is now in the queue."""
        now = self._now()
        bodies = [item.body(now) for item in items]
        result = SpillResult([EntryOutcome() for _ in items])
        done = [False] * len(items)
        for i, body in enumerate(bodies):
            if len(body.encode("utf-8")) > self._max_message_bytes:
                result.outcomes[i].error_code = "MessageTooLong"
                result.outcomes[i].error_message = f"message is larger than the queue's {self._max_message_bytes} bytes"
                done[i] = True

        def send_round(pending: list[int]) -> Round:
            retry: list[int] = []
            for batch in self._batches(pending, bodies):
                if not deadline.allows(self._call_seconds):
                    break  # left undecided: the next round's deadline check fails them
                retry.extend(self._send(batch, bodies, result, done))
            return Round(retry)

        resubmit(
            result.outcomes,
            done,
            send_round,
            deadline,
            retries=self._retries,
            call_seconds=self._call_seconds,
            sleep=self._sleep,
        )
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

    def _send(self, batch: list[int], bodies: list[str], result: SpillResult, done: list[bool]) -> list[int]:
        """One SendMessageBatch: record each entry's verdict; return the transient failures."""
        result.calls += 1
        outcomes = result.outcomes
        for i in batch:
            outcomes[i].attempts += 1
        try:
            response = self._client.send_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "MessageBody": bodies[i]} for i in batch],
            )
        except (ClientError, BotoCoreError) as exc:  # classified: transient ones are retried
            transient = classify(exc) is ErrorKind.TRANSIENT
            for i in batch:
                outcomes[i].error_code = error_code(exc)
                outcomes[i].error_message = str(exc)
                done[i] = not transient
            return batch if transient else []
        answered: set[int] = set()
        for entry in response.get("Successful", []):
            i = int(entry["Id"])
            answered.add(i)
            outcomes[i].ok = True
            outcomes[i].error_code = outcomes[i].error_message = None
            done[i] = True
        retry = []
        for entry in response.get("Failed", []):
            i = int(entry["Id"])
            answered.add(i)
            code = str(entry.get("Code", ""))
            outcomes[i].error_code = code
            outcomes[i].error_message = str(entry.get("Message", ""))
            if not entry.get("SenderFault") or classify_code(code) is ErrorKind.TRANSIENT:
                retry.append(i)
            else:
                done[i] = True
        # An entry in neither list is unaccounted for: retry it rather than assume it landed.
        for i in batch:
            if i not in answered:
                outcomes[i].error_code = "MalformedResponse"
                outcomes[i].error_message = "the entry is in neither Successful nor Failed"
                retry.append(i)
        return retry
