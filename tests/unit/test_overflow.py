"""The overflow spiller: SendMessageBatch's per-entry failures, resubmitted in rounds."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ConnectTimeoutError

from tests.fakes import FakeClock, FakeSqs, client_error
from weir.backoff import Backoff
from weir.deadline import Deadline
from weir.ingest.overflow import OverflowItem, OverflowSpiller
from weir.resubmit import DEADLINE_EXCEEDED


def items(n: int) -> list[OverflowItem]:
    return [
        OverflowItem({"event_id": f"e{i}", "payload": {"n": i}}, "ProvisionedThroughputExceededException", "")
        for i in range(n)
    ]


def spiller(sqs: Any, clock: FakeClock, **kwargs: Any) -> OverflowSpiller:
    return OverflowSpiller(
        sqs,
        "https://sqs.example/queue",
        call_seconds=0.5,
        backoff=Backoff(0.05, 1.0, random.Random(3)),
        sleep=clock.sleep,
        now=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        **kwargs,
    )


def event_ids(sqs: FakeSqs) -> list[str]:
    return [json.loads(body)["event"]["event_id"] for body in sqs.messages]


def test_only_the_entries_sqs_failed_are_sent_again_and_each_lands_once() -> None:
    clock = FakeClock()
    # the first call fails every third entry; later calls take everything
    sqs = FakeSqs(
        lambda call, body: "InternalError" if call == 0 and json.loads(body)["event"]["payload"]["n"] % 3 == 0 else None
    )
    result = spiller(sqs, clock).spill(items(10), Deadline(10, clock))
    assert result.spilled == [True] * 10
    assert sorted(event_ids(sqs)) == sorted(f"e{i}" for i in range(10))  # no entry twice
    assert result.calls == 2
    assert [o.attempts for o in result.outcomes] == [2 if i % 3 == 0 else 1 for i in range(10)]


def test_a_sender_fault_is_not_retried() -> None:
    class Refusing(FakeSqs):
        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
            self.calls += 1
            return {
                "Failed": [
                    {"Id": e["Id"], "SenderFault": True, "Code": "InvalidMessageContents", "Message": "no"}
                    for e in Entries
                ]
            }

    clock = FakeClock()
    sqs = Refusing()
    result = spiller(sqs, clock).spill(items(3), Deadline(10, clock))
    assert sqs.calls == 1
    assert result.spilled == [False] * 3
    assert result.outcomes[0].error() == "InvalidMessageContents: no"


def test_an_entry_missing_from_the_answer_is_sent_again() -> None:
    class Forgetful(FakeSqs):
        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
            answer = super().send_message_batch(QueueUrl, Entries)
            if self.calls == 1:  # the first answer leaves the last entry out (and did not keep it)
                answer["Successful"].pop()
                self.messages.pop()
            return answer

    clock = FakeClock()
    sqs = Forgetful()
    result = spiller(sqs, clock).spill(items(4), Deadline(10, clock))
    assert result.spilled == [True] * 4
    assert sorted(event_ids(sqs)) == ["e0", "e1", "e2", "e3"]
    assert result.outcomes[3].attempts == 2


def test_a_whole_call_timeout_is_retried_a_permanent_error_is_not() -> None:
    class Flaky(FakeSqs):
        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
            if self.calls == 0:
                self.calls += 1
                raise ConnectTimeoutError(endpoint_url="https://sqs.example")
            return super().send_message_batch(QueueUrl, Entries)

    clock = FakeClock()
    assert spiller(Flaky(), clock).spill(items(2), Deadline(10, clock)).spilled == [True, True]

    class Denied(FakeSqs):
        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
            self.calls += 1
            raise client_error("AccessDenied", 403, "SendMessageBatch")

    denied = Denied()
    result = spiller(denied, clock).spill(items(2), Deadline(10, clock))
    assert denied.calls == 1
    assert result.spilled == [False, False]
    assert result.outcomes[0].error_code == "AccessDenied"


def test_attempts_are_bounded_and_the_deadline_holds() -> None:
    clock = FakeClock()
    failing = FakeSqs(lambda call, body: "InternalError")
    result = spiller(failing, clock, max_attempts=3).spill(items(12), Deadline(60, clock))
    assert failing.calls == 2 * 3  # two batches (10 + 2), three attempts each
    assert all("gave up after 3 attempts" in (o.error_message or "") for o in result.outcomes)

    clock = FakeClock()
    slow = FakeSqs(lambda call, body: "InternalError", clock, call_seconds=0.3)
    result = spiller(slow, clock, max_attempts=50).spill(items(1), Deadline(2.0, clock))
    assert {o.error_code for o in result.outcomes} == {DEADLINE_EXCEEDED}
    assert 2 <= slow.calls < 50
    assert clock.now - 1000.0 <= 2.0  # no call was started that the deadline could not finish


def test_a_message_over_the_queue_limit_is_not_sent_and_says_why() -> None:
    clock = FakeClock()
    sqs = FakeSqs()
    big = OverflowItem({"event_id": "big", "payload": {"blob": "x" * 5000}}, "DeadlineExceeded", "")
    result = spiller(sqs, clock, max_message_bytes=4096).spill([big, *items(1)], Deadline(10, clock))
    assert result.spilled == [False, True]
    assert result.outcomes[0].error() == "MessageTooLong: message is larger than the queue's 4096 bytes"
    assert event_ids(sqs) == ["e0"]
