"""Receive every message of an SQS queue once, and call the queue empty only when it is.

A short poll (``WaitTimeSeconds=0``) samples a subset of SQS's servers: "you might not receive any
messages in a particular ReceiveMessage response ... If this happens, repeat the request" (SQS
developer guide, "Amazon SQS short and long polling"). One empty page therefore says nothing.
Long polling queries every server; even so, a queue is called empty here only after
``empty_polls`` empty long polls in a row (one by default) **and** the queue's own counts agreeing:
``ApproximateNumberOfMessages`` (visible) is 0, and ``ApproximateNumberOfMessagesNotVisible`` (in
flight) is no more than the messages the caller itself still holds. A message another reader holds,
or one a reader that ended without letting go still hides until its visibility timeout, is not done
with: the queue is not empty while it is in flight. When the counts never agree (they lag, or
messages were not delivered), :attr:`QueueDrain.drained` stays False and the caller must say so.

Received messages stay invisible (``visibility_seconds``) until the caller deletes them or makes
them visible again, so no message is seen twice in one drain. Every page is handed to
``on_receive`` as it arrives, before its first message is yielded: a caller that stops iterating
part-way through a page still knows every message it received and can make them visible again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from weir.deadline import Deadline

Message = dict[str, Any]


@dataclass(frozen=True)
class QueueCounts:
    visible: int
    in_flight: int


class QueueDrain:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        *,
        visibility_seconds: int,
        wait_seconds: int = 1,
        empty_polls: int = 1,
        count_checks: int = 5,
        call_seconds: float = 2.0,
    ) -> None:
        if not 1 <= wait_seconds <= 20:
            raise ValueError("wait_seconds must be 1 to 20: 0 is a short poll, which can answer empty falsely")
        self._sqs = sqs
        self._url = queue_url
        self._visibility = visibility_seconds
        self._wait = wait_seconds
        self._empty_polls = max(1, empty_polls)
        self._count_checks = max(1, count_checks)
        self._call_seconds = call_seconds
        self.drained = False
        self.visible_left: int | None = None
        self.in_flight_left: int | None = None  # in flight and not the caller's, at the last count

    def messages(
        self,
        deadline: Deadline | None = None,
        *,
        visibility_seconds: int | None = None,
        on_receive: Callable[[list[Message]], None] | None = None,
        held: Callable[[], int] | None = None,
    ) -> Iterator[Message]:
        """Each message once, with its ``SentTimestamp`` attribute; stops when the queue is
        empty (``drained``), when the deadline leaves no time for another poll, or when the
        caller stops iterating. ``held`` says how many received messages the caller still holds
        (neither deleted nor made visible); without it, every message received is counted as held."""
        seen: set[str] = set()
        empties = 0
        checks = 0
        self.drained = False
        holding = held or (lambda: len(seen))
        while deadline is None or deadline.allows(self._wait + self._call_seconds):
            page = self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=self._wait,
                VisibilityTimeout=visibility_seconds or self._visibility,
                MessageSystemAttributeNames=["SentTimestamp"],
            )
            fresh = [m for m in page.get("Messages", []) if m["MessageId"] not in seen]
            if fresh:
                empties = checks = 0
                seen.update(m["MessageId"] for m in fresh)
                if on_receive is not None:
                    on_receive(fresh)
                yield from fresh
                continue
            empties += 1
            if empties < self._empty_polls:
                continue
            counts = self.counts()
            self.visible_left = counts.visible
            self.in_flight_left = max(0, counts.in_flight - holding())
            if self.visible_left == 0 and self.in_flight_left == 0:
                self.drained = True
                return
            checks += 1
            if checks >= self._count_checks:
                # The queue kept saying messages are visible, or held elsewhere, that no poll
                # delivered: not drained.
                return
            empties = 0

    def counts(self) -> QueueCounts:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        visible = int(attributes["ApproximateNumberOfMessages"])
        return QueueCounts(visible, int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)))

    def visible_count(self) -> int:
        return self.counts().visible
