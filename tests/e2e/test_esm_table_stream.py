"""The event source mapping emulator on a DynamoDB table's stream: the function's event, FilterCriteria,
tumbling windows and the on-failure record, against what AWS recorded
(tests/fixtures/aws-recorded/dynamodb-streams.json) and documents (docs/aws-facts.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.awslambda import esm
from local.awslambda.esm import EventSourceMapping
from local.awslambda.functions import FunctionPool
from local.cloudformation.deployer import LocalFunction
from local.runtime import worker_environment
from tests.aws_helpers import create_table
from tests.e2e.test_esm_fidelity import BASE
from tests.endpoint import LocalEndpoint

pytestmark = pytest.mark.e2e

HANDLER = Path(__file__).parent / "handlers" / "table_stream.py"
RECORDED = json.loads((Path(__file__).parents[1] / "fixtures" / "aws-recorded" / "dynamodb-streams.json").read_text())


class TableHarness:
    def __init__(self, endpoint: LocalEndpoint, log: Path) -> None:
        self.endpoint = endpoint
        self.log = log
        self.dynamodb = boto3.client("dynamodb", endpoint_url=endpoint.url)
        self.sqs = boto3.client("sqs", endpoint_url=endpoint.url)
        self.table = endpoint.unique("table")
        self.stream_arn = create_table(
            self.dynamodb,
            TableName=self.table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )["TableDescription"]["LatestStreamArn"]
        self.queue_name = endpoint.unique("destination")
        self.queue_url = self.sqs.create_queue(QueueName=self.queue_name)["QueueUrl"]
        self.mapping: EventSourceMapping | None = None
        self.pool: FunctionPool | None = None

    def start(self, **settings: Any) -> None:
        function = LocalFunction("Table", HANDLER.stem, BASE.function_arn, HANDLER, "lambda_handler", 10, 128, None, {})
        environment = {**worker_environment(self.endpoint.url), "SCRIPT_LOG": str(self.log)}
        self.pool = FunctionPool(function, environment, [HANDLER.parent], 4)
        destination = f"arn:aws:sqs:us-east-1:123456789012:{self.queue_name}"
        self.mapping = EventSourceMapping(
            replace(BASE, stream_arn=self.stream_arn, destination_arn=destination, **settings),
            self.pool,
            self.endpoint.url,
        )
        self.mapping.start()

    def put(self, key: str, **attributes: str) -> None:
        item = {"id": {"S": key}} | {name: {"S": value} for name, value in attributes.items()}
        self.dynamodb.put_item(TableName=self.table, Item=item)

    def invocations(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def wait(self, done: Any, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.invocations()
            if done(found):
                return found
            time.sleep(0.2)
        raise AssertionError(f"not done in {timeout} s: {self.invocations()}")

    def stop(self) -> None:
        if self.mapping is not None:
            self.mapping.stop()
        if self.pool is not None:
            self.pool.stop()


@pytest.fixture
def harness(endpoint: LocalEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TableHarness]:
    monkeypatch.setattr(esm, "WINDOW_CLOSE_WAIT_SECONDS", 0.5)
    running = TableHarness(endpoint, tmp_path / "invocations.jsonl")
    yield running
    running.stop()


def records_of(invocations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for i in invocations for r in i["event"]["Records"]]


def test_the_function_gets_the_stream_records_as_aws_delivers_them(harness: TableHarness) -> None:
    harness.start()
    harness.put("hello", colour="red")
    [record] = records_of(harness.wait(lambda found: records_of(found)))
    [recorded] = RECORDED["scenarios"]["test_dynamodb_event_source_mapping"]["recorded"]["Records"]
    assert set(record) == set(recorded)
    assert set(record["dynamodb"]) == set(recorded["dynamodb"])
    assert record["eventSourceARN"] == harness.stream_arn
    assert (record["eventName"], record["eventVersion"], record["eventSource"]) == ("INSERT", "1.1", "aws:dynamodb")
    assert record["dynamodb"]["NewImage"] == {"id": {"S": "hello"}, "colour": {"S": "red"}}
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int | float)


def test_a_filter_on_insert_discards_the_other_changes(harness: TableHarness) -> None:
    [criteria] = [RECORDED["scenarios"]["test_dynamodb_event_filter[insert_same_entry_twice]"]["filter_criteria"]]
    harness.start(filters=tuple(f["Pattern"] for f in criteria["Filters"]))
    harness.put("a")
    harness.put("a", changed="yes")  # a MODIFY
    harness.dynamodb.delete_item(TableName=harness.table, Key={"id": {"S": "a"}})  # a REMOVE
    harness.put("b")
    found = harness.wait(lambda found: len(records_of(found)) >= 2)
    time.sleep(2)  # nothing more comes
    assert [(r["eventName"], r["dynamodb"]["Keys"]["id"]["S"]) for r in records_of(harness.invocations())] == [
        ("INSERT", "a"),
        ("INSERT", "b"),
    ]
    assert found


def test_tumbling_windows_over_a_table_stream_count_and_close(harness: TableHarness) -> None:
    harness.start(tumbling_window=2, batch_size=100, window_seconds=0.0)
    for key in "abc":
        harness.put(key)

    def finals(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i["event"] for i in found if i["event"].get("isFinalInvokeForWindow")]

    def counted(found: list[dict[str, Any]]) -> int:
        return sum(final["state"].get("records", 0) for final in finals(found))

    # The three puts may fall into one window or, on a busy machine, two: every window closes.
    harness.wait(lambda found: counted(found) >= 3)
    time.sleep(1.5)  # a window counted twice would close now
    closed = harness.invocations()
    assert counted(closed) == 3
    for final in finals(closed):
        assert final["Records"] == []
        assert final["eventSourceARN"] == harness.stream_arn
        assert final["shardId"].startswith("shardId-")


def test_a_batch_that_keeps_failing_goes_to_the_destination_as_a_ddb_stream_batch(harness: TableHarness) -> None:
    harness.start(max_retries=1, bisect=False)
    harness.put("bad", **{"raise": "1"})
    deadline = time.monotonic() + 30
    bodies: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not bodies:
        page = harness.sqs.receive_message(QueueUrl=harness.queue_url, MaxNumberOfMessages=10)
        bodies = [json.loads(m["Body"]) for m in page.get("Messages", [])]
        time.sleep(0.2)
    [body] = bodies
    recorded = RECORDED["scenarios"]["test_dynamodb_event_source_mapping_with_on_failure_destination_config"][
        "recorded"
    ]
    assert set(body) == set(recorded)
    assert set(body["DDBStreamBatchInfo"]) == set(recorded["DDBStreamBatchInfo"])
    info = body["DDBStreamBatchInfo"]
    assert info["streamArn"] == harness.stream_arn
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == recorded["requestContext"]["approximateInvokeCount"]
