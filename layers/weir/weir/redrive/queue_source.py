"""An SQS queue as a redrive source: the failure pointers, the quarantine or the overflow queue.

Messages are received with long polls (weir.sqs_drain) and stay invisible while the run holds
them; whatever was not done is made visible again when the run lets go of the source.
"""

from __future__ import annotations

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
        visibility_seconds: int = 300,
        wait_seconds: int = 1,
    ) -> None:
        self.name = name
        self._sqs = sqs
        self._url = queue_url
        self._to_records = to_records
        self._sink = unrecoverable_sink
        self._bodies = bodies
        self._drain = QueueDrain(sqs, queue_url, visibility_seconds=visibility_seconds, wait_seconds=wait_seconds)
        self._held: list[Item] = []

    @property
    def drained(self) -> bool:
        return self._drain.drained

    def items(self, request: RedriveRequest, deadline: Deadline) -> Generator[Item, None, None]:
        try:
            for message in self._drain.messages(deadline):
                sent = datetime.fromtimestamp(int(message["Attributes"]["SentTimestamp"]) / 1000, UTC)
                item = Item(self.name, message["MessageId"], message["Body"].encode(), sent, message["ReceiptHandle"])
                self._held.append(item)  # out of the window too: held, so that it is not received again
                if request.in_window(sent):
                    yield item
        finally:
            self.release_all()

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

    def release_all(self) -> None:
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
        return self._drain.visible_count()
