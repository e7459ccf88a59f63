"""An SQS queue as a redrive source: the failure pointers, the quarantine or the overflow queue.

Messages are received with long polls (weir.sqs_drain) and stay invisible while the run holds
them. The run holds every message of a page from the moment it arrives (not only those it has
reached), and whatever it did not finish is made visible again when it lets go of the source
(:meth:`QueueSource.let_go`, which the service calls whatever happens). A run that never lets go
— its process killed, its invocation timed out — leaves its messages hidden only until their
visibility timeout, which is the run's own remaining time plus a margin, not a fixed five minutes.
The source is drained only when nothing is visible and nothing is in flight but what the run holds.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

from weir.deadline import Deadline
from weir.failures import MalformedFailureRecord
from weir.large_messages import LargeMessageStore, PointerError
from weir.producer import Record
from weir.redrive.request import RedriveRequest, SourceName
from weir.redrive.sources import Item, ToRecords
from weir.redrive.unrecoverable import UnrecoverableSink
from weir.sqs_drain import QueueDrain


class QueueSource:
    def __init__(
        self,
        name: SourceName,
        sqs: Any,
        queue_url: str,
        to_records: ToRecords,
        unrecoverable_sink: UnrecoverableSink,
        bodies: LargeMessageStore,
        visibility_margin_seconds: int = 30,
        wait_seconds: int = 1,
        count_checks: int = 5,
    ) -> None:
        self.name = name
        self._sqs = sqs
        self._url = queue_url
        self._to_records = to_records
        self._sink = unrecoverable_sink
        self._bodies = bodies
        self._margin = visibility_margin_seconds
        self._drain = QueueDrain(
            sqs, queue_url, visibility_seconds=300, wait_seconds=wait_seconds, count_checks=count_checks
        )
        self._held: list[Item] = []

    @property
    def drained(self) -> bool:
        return self._drain.drained

    def items(self, request: RedriveRequest, deadline: Deadline) -> Generator[Item, None, None]:
        """Each message of the queue in the request's window once. Every message received is held
        (out of the window too, so that it is not received again) until done, parked or let go."""
        waiting: dict[str, Item] = {}

        def hold(page: list[dict[str, Any]]) -> None:
            for message in page:
                sent = datetime.fromtimestamp(int(message["Attributes"]["SentTimestamp"]) / 1000, UTC)
                item = Item(self.name, message["MessageId"], message["Body"].encode(), sent, message["ReceiptHandle"])
                self._held.append(item)
                waiting[message["MessageId"]] = item

        visibility = min(43_200, math.ceil(deadline.remaining()) + self._margin)
        try:
            for message in self._drain.messages(
                deadline, visibility_seconds=visibility, on_receive=hold, held=lambda: len(self._held)
            ):
                item = waiting.pop(message["MessageId"])
                if request.in_window(item.received_at):
                    yield item
        finally:
            self.let_go()

    def records(self, item: Item) -> list[Record]:
        try:
            resolved = self._bodies.resolve(item.body.decode("utf-8"))
        except (PointerError, UnicodeDecodeError) as exc:
            raise MalformedFailureRecord(str(exc)) from None
        item.object_key = resolved.object_key
        return self._to_records(resolved.body.encode("utf-8"))

    def done(self, item: Item) -> None:
        self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=item.handle)
        self._held.remove(item)
        if item.object_key:
            self._bodies.delete(item.object_key)

    def release(self, item: Item) -> None:
        """Leave it where it is; it becomes visible again when the run lets go of the source."""

    def let_go(self) -> None:
        """Make every message this run still holds visible again (idempotent)."""
        for start in range(0, len(self._held), 10):
            batch = self._held[start : start + 10]
            response = self._sqs.change_message_visibility_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": item.handle, "VisibilityTimeout": 0} for i, item in enumerate(batch)
                ],
            )
            # A failed entry only stays invisible until its visibility timeout ends: nothing is lost.
            for failed in response.get("Failed", []):
                item = batch[int(failed["Id"])]
                self._sqs.change_message_visibility(QueueUrl=self._url, ReceiptHandle=item.handle, VisibilityTimeout=0)
        self._held.clear()

    def unrecoverable(self, item: Item, reason: str) -> None:
        # The message as it is (a pointer stays a pointer, and its object stays for the operator).
        self._sink.put(self.name, item.ref, reason, item.body.decode("utf-8", "replace"))
        self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=item.handle)
        self._held.remove(item)

    def remaining(self) -> int:
        """Messages waiting: the visible ones and those in flight with no run of this source's
        (a run that ended without letting go hides its messages until their timeout)."""
        counts = self._drain.counts()
        return counts.visible + max(0, counts.in_flight - len(self._held))
