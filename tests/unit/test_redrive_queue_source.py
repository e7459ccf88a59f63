"""A redrive run over an SQS queue leaves nothing hidden and says "complete" only when the queue is
empty: a run that stops part-way through a page of ten gives every message it received back; a run
that ends without letting go hides its messages only for about its own time; messages in flight
with another reader keep the source from being called drained. On moto's SQS in this process, with
a fake clock for the rate limiter and the deadline (visibility timeouts are moto's, in real time)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.fakes import FakeClock, FakeKinesis
from weir.deadline import Deadline
from weir.large_messages import LargeMessageStore
from weir.producer import Producer
from weir.redrive.limiter import RateLimiter
from weir.redrive.queue_source import QueueSource
from weir.redrive.request import RedriveRequest
from weir.redrive.service import RedriveService
from weir.redrive.sources import overflow_records
from weir.redrive.unrecoverable import UnrecoverableSink


class Attempts:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def count(self, identity: str) -> int:
        return self.counts[identity]

    def put_back(self, identity: str) -> int:
        self.counts[identity] += 1
        return self.counts[identity]


class Queue:
    def __init__(self, messages: int) -> None:
        self.sqs: Any = boto3.client("sqs", region_name="us-east-1")
        self.url = self.sqs.create_queue(QueueName="overflow")["QueueUrl"]
        unrecoverable = self.sqs.create_queue(QueueName="unrecoverable")["QueueUrl"]
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bodies")
        self.bodies = LargeMessageStore(s3, "bodies", "overflow")
        self.sink = UnrecoverableSink(self.sqs, unrecoverable, self.bodies)
        for n in range(messages):
            event = {"event_id": f"e{n}", "type": "t", "partition_key": f"k{n}", "payload": {}}
            self.sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps({"kind": "weir.overflow", "event": event}))

    def source(self, margin: int = 30) -> QueueSource:
        return QueueSource(
            "overflow", self.sqs, self.url, overflow_records, self.sink, self.bodies, margin, count_checks=1
        )

    def counts(self) -> tuple[int, int]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=names)["Attributes"]
        return int(attributes[names[0]]), int(attributes[names[1]])


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def redrive_run(
    queue: Queue, clock: FakeClock, kinesis: FakeKinesis, rate: float, seconds: float, **request: Any
) -> Any:
    """One run, as a new execution environment makes it: a new source, producer and limiter."""
    producer = Producer(kinesis, "s", call_seconds=0.1, sleep=clock.sleep, clock=clock)
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    service = RedriveService({"overflow": queue.source()}, producer, Attempts(), 3, limiter)  # type: ignore[arg-type]
    return service.run(RedriveRequest(sources=("overflow",), **request), Deadline(seconds, clock))


def test_a_run_stopped_part_way_through_a_page_hides_nothing_and_the_runs_bring_back_every_event(aws: None) -> None:
    # GIVEN ten messages (one page) and a rate that lets a run of 4 s take four of them
    queue, clock, kinesis = Queue(10), FakeClock(), FakeKinesis()
    reports: list[Any] = []
    while len(reports) < 5:
        # WHEN runs follow one another
        report = redrive_run(queue, clock, kinesis, rate=1, seconds=3.5)
        reports.append(report)
        # THEN after each, nothing this run received is left hidden
        visible, in_flight = queue.counts()
        assert in_flight == 0, report.to_json()
        # and a run says complete only when nothing is left (one that could not confirm it says so)
        if report.complete:
            assert visible == 0, report.to_json()
            break
    assert reports[-1].complete
    assert [r.stopped for r in reports[:2]] == ["rate", "rate"]
    assert Counter(json.loads(data)["event_id"] for _, data in kinesis.written) == {f"e{n}": 1 for n in range(10)}


def test_messages_in_flight_with_another_reader_keep_the_source_from_being_called_drained(aws: None) -> None:
    # GIVEN three messages, two of them received by another reader that still holds them
    queue, clock, kinesis = Queue(3), FakeClock(), FakeKinesis()
    queue.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=2, VisibilityTimeout=600)
    # WHEN a run redrives what it can see
    report = redrive_run(queue, clock, kinesis, rate=100, seconds=60)
    # THEN it brings back the one it could, and says the queue is not done with
    assert report.counts["overflow"]["records_redriven"] == 1
    assert (report.complete, report.stopped) == (False, "not_drained")
    assert report.left_for_next_run == {"overflow": 2}


def test_messages_outside_the_window_are_held_by_the_run_itself_and_do_not_keep_it_from_completing(
    aws: None,
) -> None:
    # GIVEN three messages sent now, and a run for what was sent before 2020
    queue, clock, kinesis = Queue(3), FakeClock(), FakeKinesis()
    report = redrive_run(queue, clock, kinesis, rate=100, seconds=60, until=datetime(2020, 1, 1, tzinfo=UTC))
    # THEN it redrives nothing, the window is done with, and the three are visible again
    assert kinesis.written == []
    assert report.complete, report.to_json()
    assert queue.counts() == (3, 0)


def test_a_run_that_ends_without_letting_go_hides_its_messages_only_for_about_its_own_time(aws: None) -> None:
    # GIVEN a run with about 3 s left that received the queue's messages and then died (no finally ran)
    queue = Queue(3)
    source = queue.source(margin=0)
    items = source.items(RedriveRequest(), Deadline(3.05))
    next(items)
    assert queue.counts() == (0, 3)
    # WHEN its time has passed (4 s, rounded up), not SQS's five minutes
    time.sleep(4.5)
    # THEN every message is back for the next run
    assert queue.counts() == (3, 0)
    items.close()
