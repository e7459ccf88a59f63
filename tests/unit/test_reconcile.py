"""The load test's reconciliation: every event accounted for, at a cost linear in the events, and
nothing that waits in a queue received, hidden or counted as a receive."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from load.reconcile import KEYS_PER_CALL, Ledger, TableCheck, drain, reconcile
from tools.stack import StackInfo

ids = st.lists(st.uuids().map(lambda u: f"load-{u}"), unique=True, max_size=60)


@given(accepted=ids, spilled=ids, not_taken=ids, unanswered=ids, cut_off=ids, sent=st.integers(0, 10_000))
def test_a_ledger_survives_the_trip_from_worker_to_master(
    accepted: list[str], spilled: list[str], not_taken: list[str], unanswered: list[str], cut_off: list[str], sent: int
) -> None:
    worker = Ledger(sent_count=sent)
    worker.sent(cut_off)  # requests cut off when the worker stopped its users: no outcome recorded
    worker.accepted(accepted, spilled)
    worker.not_taken(not_taken)
    worker.unanswered(unanswered)
    master = Ledger()
    for chunk in worker.chunks(size=7):
        assert sum(len(v) for v in chunk.values() if isinstance(v, list)) <= 7
        master.merge(json.loads(json.dumps(chunk)))  # as Locust's messages carry it
    assert master.sent_count == worker.sent_count
    assert list(master.accepted_ids) == list(worker.accepted_ids)
    assert master.spilled_ids == worker.spilled_ids
    assert master.not_taken_ids == worker.not_taken_ids
    assert master.unanswered_ids == worker.unanswered_ids
    assert master.unanswered_ids >= set(cut_off) - set(accepted) - set(spilled) - set(not_taken)


class GrowingTable:
    """A table that stores ``per_poll`` more of ``order`` before each poll; counts ids checked."""

    def __init__(self, order: list[str], per_poll: int) -> None:
        self.order = order
        self.per_poll = per_poll
        self.present: set[str] = set()
        self.checked = 0

    def stored(self, wanted: Any) -> set[str]:
        wanted = list(wanted)
        self.checked += len(wanted)
        return {i for i in wanted if i in self.present}

    def grow(self) -> None:
        self.present.update(self.order[len(self.present) : len(self.present) + self.per_poll])


def _ledger(count: int, spilled: int = 0) -> Ledger:
    ledger = Ledger(sent_count=count + spilled)
    ledger.accepted([f"e{i}" for i in range(count)], [f"s{i}" for i in range(spilled)])
    return ledger


def test_the_drain_checks_each_id_about_once_however_long_it_waits() -> None:
    ledger = _ledger(20_000, spilled=500)
    table = GrowingTable([f"e{i}" for i in range(20_000)], per_poll=400)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        table.grow()

    stored = drain(ledger, table, timeout=1_000, poll=1, clock=lambda: now[0], sleep=sleep)  # type: ignore[arg-type]
    assert stored == {f"e{i}" for i in range(20_000)}  # spilled events are not waited for
    polls = 20_000 // 400 + 1
    # the newest ids each poll, then every id in the one pass that found them all
    assert table.checked <= polls * KEYS_PER_CALL + 20_000
    assert now[0] == polls - 1


def test_the_drain_gives_up_at_its_timeout_and_reports_its_progress() -> None:
    ledger = _ledger(1_000)
    table = GrowingTable([f"e{i}" for i in range(1_000)], per_poll=0)
    now = [0.0]
    seen: list[Any] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    drain(ledger, table, timeout=10, poll=2, on_poll=seen.append, clock=lambda: now[0], sleep=sleep)  # type: ignore[arg-type]
    assert now[0] == 10
    assert [s.done for s in seen] == [False] * 6
    assert seen[-1].expected == 1_000
    assert seen[-1].stored == 0


# --- against a stack (moto in process) ------------------------------------------------------


@pytest.fixture
def stack() -> Iterator[StackInfo]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName="events",
            KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sqs = boto3.client("sqs")
        overflow = sqs.create_queue(QueueName="weir-overflow")["QueueUrl"]
        sqs.create_queue(QueueName="weir-quarantine")
        kinesis = boto3.client("kinesis")
        kinesis.create_stream(StreamName="events", ShardCount=2)
        boto3.client("s3").create_bucket(Bucket="failures")
        yield StackInfo(
            {
                "EventsTableName": "events",
                "OverflowQueueUrl": overflow,
                "QuarantineArn": "arn:aws:sqs:us-east-1:123456789012:weir-quarantine",
                "StreamName": "events",
                "FailureDestinationArn": "arn:aws:s3:::failures",
            },
            None,
        )


def _store(event_ids: list[str]) -> None:
    table = boto3.resource("dynamodb").Table("events")
    with table.batch_writer() as writer:
        for event_id in event_ids:
            writer.put_item(Item={"event_id": event_id})


def _spill(stack: StackInfo, event_ids: list[str]) -> None:
    sqs = boto3.client("sqs")
    for event_id in event_ids:
        sqs.send_message(
            QueueUrl=stack.outputs["OverflowQueueUrl"], MessageBody=json.dumps({"event": {"event_id": event_id}})
        )


def _on_stream(event_ids: list[str]) -> None:
    kinesis = boto3.client("kinesis")
    for event_id in event_ids:
        kinesis.put_record(StreamName="events", Data=json.dumps({"event_id": event_id}).encode(), PartitionKey=event_id)


def _failed(event_ids: list[str]) -> None:
    records = [
        {"kinesis": {"data": base64.b64encode(json.dumps({"event_id": i}).encode()).decode()}} for i in event_ids
    ]
    document = {"requestContext": {"condition": "RetryAttemptsExhausted"}, "payload": json.dumps({"Records": records})}
    boto3.client("s3").put_object(Bucket="failures", Key="aws/lambda/mapping/shard/1.json", Body=json.dumps(document))


def test_every_event_is_accounted_for_and_no_queue_is_received_from(stack: StackInfo) -> None:
    stored = [f"stored-{i}" for i in range(250)]
    spilled = [f"spilled-{i}" for i in range(12)]
    failed = [f"failed-{i}" for i in range(5)]
    behind = [f"behind-{i}" for i in range(7)]
    lost = ["lost-1", "lost-2"]
    ledger = Ledger(sent_count=300)
    ledger.accepted(stored + failed + behind + lost, spilled)
    ledger.not_taken(["refused-1"])
    ledger.unanswered(["silent-1", "stored-0"])
    _store(stored)
    _spill(stack, spilled)
    _failed(failed)
    _on_stream(stored[:20] + behind)

    report = reconcile(ledger, stack, timeout=0)

    assert report.stored == 250
    assert report.waiting == {"overflow queue (the API's answer; counted, not received)": 12, "failure destination": 5}
    assert report.backlog == 7
    assert report.lost_ids == lost
    assert report.lost == 2
    assert report.not_taken == 1
    assert report.unanswered == 1  # silent-1; stored-0 was answered after all
    # the overflow queue was never received from: nothing hidden, every message on its first receive
    sqs = boto3.client("sqs")
    url = stack.outputs["OverflowQueueUrl"]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "0"
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in messages} == {"1"}


def test_an_event_sent_without_an_outcome_is_never_left_out_of_the_count(stack: StackInfo) -> None:
    """A request cut off when Locust stopped its user, or an answer that was not the function's (API
    Gateway's own 503): its events were sent and have no outcome. They are reconciled as unanswered
    (and looked for in the table), so the rows always add up to what was sent."""
    ledger = Ledger()
    ledger.sent(["taken", "refused", "cut-off-stored", "cut-off-missing"])
    ledger.accepted(["taken"])
    ledger.not_taken(["refused"])
    _store(["taken", "cut-off-stored"])

    report = reconcile(ledger, stack, timeout=0)

    assert report.sent == 4
    assert (report.accepted, report.not_taken, report.unanswered) == (1, 1, 2)
    assert report.accepted + report.not_taken + report.unanswered == report.sent
    assert report.unanswered_stored == 1
    assert report.lost == 0


def test_spilled_events_the_queue_does_not_hold_are_lost(stack: StackInfo) -> None:
    spilled = [f"spilled-{i}" for i in range(10)]
    ledger = Ledger(sent_count=10)
    ledger.accepted([], spilled)
    _spill(stack, spilled[:7])
    report = reconcile(ledger, stack, timeout=0)
    assert report.missing_from_queue == 3
    assert report.lost == 3
    assert "3 spilled events are not in the overflow queue's counts" in report.render()


def test_a_table_check_costs_one_call_per_hundred_ids(stack: StackInfo) -> None:
    _store([f"e{i}" for i in range(1_050)])
    check = TableCheck(stack)
    found = check.stored(f"e{i}" for i in range(1_100))
    assert len(found) == 1_050
    assert check.calls == 11
