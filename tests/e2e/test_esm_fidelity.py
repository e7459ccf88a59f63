"""The event source mapping emulator against AWS's documented behaviour (docs/aws-facts.md)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.awslambda.esm import EventSourceMapping, MappingSettings
from local.awslambda.functions import FunctionPool
from local.cloudformation.deployer import LocalFunction
from local.runtime import worker_environment
from tests.endpoint import LocalEndpoint

pytestmark = pytest.mark.e2e

HANDLER = Path(__file__).parent / "handlers" / "scripted.py"

BASE = MappingSettings(
    uuid="00000000-0000-4000-8000-000000000000",
    function_arn="arn:aws:lambda:us-east-1:123456789012:function:scripted",
    stream_arn="",
    batch_size=10,
    window_seconds=0.5,
    parallelization=1,
    max_retries=2,
    max_record_age=3600,
    bisect=True,
    report_item_failures=True,
    starting_position="TRIM_HORIZON",
    destination_arn=None,
    role_arn="arn:aws:iam::123456789012:role/scripted-role",
)


class Harness:
    def __init__(self, endpoint: LocalEndpoint, log: Path) -> None:
        self.endpoint = endpoint
        self.log = log
        # where a test function remembers what it did once ($SCRIPT_MARKERS of handlers/windowed.py)
        self.markers = log.parent / "markers"
        self.markers.mkdir(exist_ok=True)
        self.kinesis = boto3.client("kinesis", endpoint_url=endpoint.url)
        self.sqs = boto3.client("sqs", endpoint_url=endpoint.url)
        self.stream = endpoint.unique("fidelity")
        self.kinesis.create_stream(StreamName=self.stream, ShardCount=1)
        self.kinesis.get_waiter("stream_exists").wait(
            StreamName=self.stream, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
        self.queue_name = endpoint.unique("destination")
        self.queue_url = self.sqs.create_queue(QueueName=self.queue_name)["QueueUrl"]
        self.mapping: EventSourceMapping | None = None
        self.pool: FunctionPool | None = None

    def put_raw(self, records: list[tuple[bytes, str]]) -> list[str]:
        """Records with exactly this data and partition key, in this order (one shard)."""
        response = self.kinesis.put_records(
            StreamName=self.stream, Records=[{"Data": data, "PartitionKey": key} for data, key in records]
        )
        assert response["FailedRecordCount"] == 0
        return [r["SequenceNumber"] for r in response["Records"]]

    def put(self, actions: list[dict[str, Any]], key: Callable[[int], str] = lambda i: "k") -> list[str]:
        response = self.kinesis.put_records(
            StreamName=self.stream,
            Records=[
                {"Data": json.dumps({"id": i, **a}).encode(), "PartitionKey": key(i)} for i, a in enumerate(actions)
            ],
        )
        assert response["FailedRecordCount"] == 0
        return [r["SequenceNumber"] for r in response["Records"]]

    def start(
        self,
        concurrency: int = 10,
        destination: str | None = None,
        env: dict[str, str] | None = None,
        handler: Path = HANDLER,
        **settings: Any,
    ) -> EventSourceMapping:
        function = LocalFunction(
            "Scripted", handler.stem, BASE.function_arn, handler, "lambda_handler", 10, 128, None, {}
        )
        environment = {**worker_environment(self.endpoint.url), "SCRIPT_LOG": str(self.log), **(env or {})}
        self.pool = FunctionPool(function, environment, [handler.parent], concurrency)
        arn = f"arn:aws:kinesis:us-east-1:123456789012:stream/{self.stream}"
        destination = destination or f"arn:aws:sqs:us-east-1:123456789012:{self.queue_name}"
        self.mapping = EventSourceMapping(
            replace(BASE, stream_arn=arn, destination_arn=destination, **settings), self.pool, self.endpoint.url
        )
        self.mapping.start()
        return self.mapping

    def wait_idle(self, timeout: float = 30, quiet_seconds: float = 2.0) -> None:
        assert self.mapping is not None
        deadline = time.monotonic() + timeout
        quiet = None
        while time.monotonic() < deadline:
            if self.mapping.idle() and self.mapping.lanes:
                quiet = quiet or time.monotonic()
                if time.monotonic() - quiet > quiet_seconds:
                    return
            else:
                quiet = None
            time.sleep(0.2)
        raise AssertionError("the mapping did not drain in time")

    def wait_for_ids(self, ids: set[int], timeout: float, poll: float = 0.2) -> None:
        """Wait until every record id in ``ids`` has reached the function (or the timeout passes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if {i for c in self.invocations() for i in c["ids"]} >= ids:
                return
            time.sleep(poll)

    def invocations(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def destination_bodies(self) -> list[str]:
        """Every message body in the SQS destination, as the queue holds it (a string). Short polls:
        moto never answers a false empty (real SQS can; weir.sqs_drain is what the product uses)."""
        bodies: list[str] = []
        while True:
            page = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            if not page.get("Messages"):
                return bodies
            bodies.extend(m["Body"] for m in page["Messages"])

    def destination(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in self.destination_bodies()]

    def stop(self) -> None:
        if self.mapping is not None:
            self.mapping.stop()
        if self.pool is not None:
            self.pool.stop()


@pytest.fixture
def harness(endpoint: LocalEndpoint, tmp_path: Path) -> Iterator[Harness]:
    running = Harness(endpoint, tmp_path / "invocations.jsonl")
    yield running
    running.stop()


def test_a_partial_batch_response_checkpoints_before_the_lowest_failure_and_retries_from_there(
    harness: Harness,
) -> None:
    # GIVEN ten records, the sixth of which the function always reports as failed
    sequences = harness.put([{"action": "fail"} if i == 5 else {} for i in range(10)])
    harness.start()
    harness.wait_idle()
    calls = harness.invocations()
    # THEN the first invocation had all ten; the checkpoint moved, so the rest from the reported record
    # is a new batch with its own tries: 1 + MaximumRetryAttempts (2), as recorded against AWS
    # (tests/e2e/test_esm_aws_recorded.py, test_kinesis_report_batch_item_failures)
    assert [c["ids"] for c in calls] == [list(range(10)), [5, 6, 7, 8, 9], [5, 6, 7, 8, 9], [5, 6, 7, 8, 9]]
    # AND after MaximumRetryAttempts the rest of the batch goes to the destination, metadata only
    [failure] = harness.destination()
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert failure["KinesisBatchInfo"]["startSequenceNumber"] == sequences[5]
    assert failure["KinesisBatchInfo"]["endSequenceNumber"] == sequences[9]
    assert failure["KinesisBatchInfo"]["batchSize"] == 5
    assert "payload" not in failure


def test_a_function_error_bisects_the_batch_down_to_the_bad_record(harness: Harness) -> None:
    sequences = harness.put([{"action": "raise"} if i == 6 else {} for i in range(8)])
    harness.start()
    harness.wait_idle()
    calls = harness.invocations()
    batches = [c["ids"] for c in calls]
    # halves, then quarters, ... until the failing record is alone; bisecting uses no retries
    assert batches[:4] == [list(range(8)), [0, 1, 2, 3], [4, 5, 6, 7], [4, 5]]
    assert batches.count([6]) == 3  # the first try alone, then MaximumRetryAttempts (2) retries
    processed = {i for c in calls if not c["raised"] for i in c["ids"]}
    assert processed == {0, 1, 2, 3, 4, 5, 7}
    [failure] = harness.destination()
    assert (
        failure["KinesisBatchInfo"]["startSequenceNumber"]
        == failure["KinesisBatchInfo"]["endSequenceNumber"]
        == sequences[6]
    )
    assert failure["responseContext"]["functionError"] == "Unhandled"


def test_without_bisect_the_whole_batch_is_retried_and_then_sent_to_the_destination(harness: Harness) -> None:
    sequences = harness.put([{"action": "raise"} if i == 2 else {} for i in range(4)])
    harness.start(bisect=False, max_retries=1)
    harness.wait_idle()
    assert [c["ids"] for c in harness.invocations()] == [[0, 1, 2, 3], [0, 1, 2, 3]]
    [failure] = harness.destination()
    assert (failure["KinesisBatchInfo"]["startSequenceNumber"], failure["KinesisBatchInfo"]["endSequenceNumber"]) == (
        sequences[0],
        sequences[3],
    )


def test_records_older_than_the_maximum_age_go_to_the_destination_without_an_invocation(harness: Harness) -> None:
    sequences = harness.put([{} for _ in range(3)])
    time.sleep(1.5)
    harness.start(max_record_age=1)
    harness.wait_idle()
    assert harness.invocations() == []
    [failure] = harness.destination()
    assert failure["requestContext"]["condition"] == "RecordAgeExceeded"
    assert failure["KinesisBatchInfo"]["startSequenceNumber"] == sequences[0]


def test_an_invalid_item_identifier_fails_the_whole_batch(harness: Harness) -> None:
    # batchItemFailures naming no record of the batch (an empty itemIdentifier)
    harness.put([{"respond": {"batchItemFailures": [{"itemIdentifier": ""}]}} for _ in range(3)])
    harness.start(max_retries=0, bisect=False)
    harness.wait_idle()
    [failure] = harness.destination()
    assert failure["KinesisBatchInfo"]["batchSize"] == 3


def test_parallelization_runs_batches_concurrently_and_keeps_each_keys_order(harness: Harness) -> None:
    harness.put([{"sleep": 0.05} for _ in range(60)], key=lambda i: f"key-{i % 6}")
    harness.start(parallelization=3, batch_size=4, window_seconds=0)
    harness.wait_idle()
    calls = sorted(harness.invocations(), key=lambda c: c["start"])
    seen: dict[str, list[int]] = {}
    for call in calls:
        for key, record_id in zip(call["keys"], call["ids"], strict=True):
            seen.setdefault(key, []).append(record_id)
    assert all(ids == sorted(ids) for ids in seen.values())
    assert sum(len(ids) for ids in seen.values()) == 60
    overlapping = any(a["start"] < b["end"] and b["start"] < a["end"] for a, b in itertools.pairwise(calls))
    assert overlapping, "no two batches of the shard ever ran at the same time"


def test_reserved_concurrency_caps_concurrent_invocations(harness: Harness) -> None:
    harness.put([{"sleep": 0.2} for _ in range(24)], key=lambda i: f"key-{i % 8}")
    harness.start(concurrency=2, parallelization=6, batch_size=2, window_seconds=0)
    harness.wait_idle()
    assert harness.pool is not None
    assert harness.pool.peak_in_flight == 2
    calls = harness.invocations()
    most = max(sum(1 for c in calls if c["start"] < t < c["end"]) for t in (c["start"] + 0.01 for c in calls))
    assert most <= 2
    assert sum(len(c["ids"]) for c in calls) == 24
