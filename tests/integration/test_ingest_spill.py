"""The ingest handler against the local endpoint: throttling, spill, and 503 only for what was not taken."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

import functions.ingest.app as ingest_app
from tests.aws_helpers import drain_queue, read_stream
from tests.endpoint import LocalEndpoint
from tests.factories import envelope, http_api_event
from tests.fakes import FakeLambdaContext
from tests.stack import ingest_environment

pytestmark = pytest.mark.integration

PTE = "ProvisionedThroughputExceededException"
# A short deadline keeps the tests fast; the template's Parameters are what change it.
FAST = {
    "IngestDeadlineSeconds": "2",
    "SpillReserveSeconds": "1",
    "KinesisConnectTimeoutSeconds": "0.25",
    "KinesisReadTimeoutSeconds": "0.5",
    "SqsConnectTimeoutSeconds": "0.25",
    "SqsReadTimeoutSeconds": "0.5",
}


@pytest.fixture
def ingest(
    local_aws: LocalEndpoint, stream: str, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    for name, value in ingest_environment(stream, queue_url, **FAST).items():
        monkeypatch.setenv(name, value)
    ingest_app.service.cache_clear()
    yield {
        "stream": stream,
        "queue_url": queue_url,
        "kinesis": boto3.client("kinesis", endpoint_url=local_aws.url),
        "sqs": boto3.client("sqs", endpoint_url=local_aws.url),
    }
    ingest_app.service.cache_clear()


def post(events: list[dict[str, Any]]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = ingest_app.lambda_handler(http_api_event({"events": events}), FakeLambdaContext(timeout_seconds=10))
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def test_a_stream_that_throttles_every_call_spends_the_budget_and_events_land_in_the_overflow_queue(
    local_aws: LocalEndpoint, ingest: dict[str, Any]
) -> None:
    # GIVEN a stream that throttles every PutRecords call
    fault = local_aws.add_fault(service="kinesis", operation="PutRecords", error=PTE, status=400)
    events = [envelope(event_id=f"t-{i}") for i in range(12)]
    # WHEN a batch is posted
    status, body, _ = post(events)
    # THEN the producer retried until its share of the deadline was spent ...
    assert local_aws.fired(fault) >= 2
    # ... and every event is accepted through the overflow queue, with the reason
    assert status == 202
    assert body["accepted"] == 12
    assert {o["status"] for o in body["events"]} == {"spilled"}
    spilled = drain_queue(ingest["sqs"], ingest["queue_url"])
    assert sorted(m["event"]["event_id"] for m in spilled) == sorted(e["event_id"] for e in events)
    assert {m["reason"]["code"] for m in spilled} == {"DeadlineExceeded"}
    assert read_stream(ingest["kinesis"], ingest["stream"]) == []


def test_when_the_spill_fails_too_the_api_answers_503_with_exactly_the_events_not_taken(
    local_aws: LocalEndpoint, ingest: dict[str, Any]
) -> None:
    # GIVEN a shard that takes 3 records/s and an overflow queue that is down
    local_aws.set_limits(records_per_second=3)
    local_aws.add_fault(service="sqs", error="ServiceUnavailable", status=503)
    events = [envelope(event_id=f"u-{i}", partition_key="one-key") for i in range(20)]
    # WHEN 20 events of one key are posted
    status, body, headers = post(events)
    # THEN the answer is 503 with Retry-After, and not_taken is exactly what is in neither place
    on_stream = {r["event"]["event_id"] for r in read_stream(ingest["kinesis"], ingest["stream"])}
    local_aws.clear_faults()
    in_queue = {m["event"]["event_id"] for m in drain_queue(ingest["sqs"], ingest["queue_url"])}
    assert status == 503
    assert int(headers["Retry-After"]) >= 1
    assert in_queue == set()
    assert 1 <= len(on_stream) < 20
    assert set(body["not_taken"]) == {e["event_id"] for e in events} - on_stream
    assert body["accepted"] == len(on_stream)
    written = [o for o in body["events"] if o["status"] == "written"]
    assert {o["event_id"] for o in written} == on_stream


def test_a_partly_throttled_batch_is_written_once_and_the_rest_spilled(
    local_aws: LocalEndpoint, ingest: dict[str, Any]
) -> None:
    local_aws.set_limits(records_per_second=5)
    events = [envelope(event_id=f"p-{i}", partition_key="one-key") for i in range(40)]
    status, body, _ = post(events)
    assert status == 202
    assert body["accepted"] == 40
    stream_ids = [r["event"]["event_id"] for r in read_stream(ingest["kinesis"], ingest["stream"])]
    queue_ids = [m["event"]["event_id"] for m in drain_queue(ingest["sqs"], ingest["queue_url"])]
    # every event is in exactly one place, never both, never neither
    assert sorted(stream_ids + queue_ids) == sorted(e["event_id"] for e in events)
    assert stream_ids
    assert queue_ids
    statuses = {o["event_id"]: o["status"] for o in body["events"]}
    assert {i for i, s in statuses.items() if s == "written"} == set(stream_ids)
