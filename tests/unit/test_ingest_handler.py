"""The ingest handler with real HTTP API v2 events, against moto's in-process Kinesis and SQS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

import functions.ingest.app as ingest_app
from tests.aws_helpers import drain_queue, read_stream
from tests.factories import envelope, http_api_event
from tests.fakes import FakeLambdaContext, logged_lines
from tests.stack import ingest_environment

STREAM = "weir-test-events"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with mock_aws():
        kinesis = boto3.client("kinesis")
        sqs = boto3.client("sqs")
        kinesis.create_stream(StreamName=STREAM, ShardCount=2)
        queue_url = sqs.create_queue(QueueName="weir-test-overflow")["QueueUrl"]
        for name, value in ingest_environment(STREAM, queue_url).items():
            monkeypatch.setenv(name, value)
        ingest_app.service.cache_clear()
        yield {"kinesis": kinesis, "sqs": sqs, "queue_url": queue_url}
        ingest_app.service.cache_clear()


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = ingest_app.lambda_handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def stream_ids(aws: dict[str, Any]) -> list[str]:
    return [r["event"]["event_id"] for r in read_stream(aws["kinesis"], STREAM)]


def test_one_event_is_written_and_answered_202(aws: dict[str, Any]) -> None:
    event = envelope(event_id="e-1")
    status, body, _ = invoke(http_api_event(event))
    assert status == 202
    assert body["accepted"] == 1
    [outcome] = body["events"]
    assert outcome["event_id"] == "e-1"
    assert outcome["status"] == "written"
    assert outcome["shard_id"].startswith("shardId-")
    assert outcome["sequence_number"]
    [record] = read_stream(aws["kinesis"], STREAM)
    assert record["event"] == event | {"accepted_at": record["event"]["accepted_at"]}  # stamped by the API
    assert record["partition_key"] == "customer-1"


def test_a_batch_is_written_with_one_outcome_per_event_in_order(aws: dict[str, Any]) -> None:
    events = [envelope(event_id=f"e-{i}", partition_key=f"k{i}") for i in range(25)]
    status, body, _ = invoke(http_api_event({"events": events}))
    assert status == 202
    assert body["accepted"] == 25
    assert [o["event_id"] for o in body["events"]] == [f"e-{i}" for i in range(25)]
    assert sorted(stream_ids(aws)) == sorted(f"e-{i}" for i in range(25))


def test_a_missing_event_id_is_stamped_and_returned(aws: dict[str, Any]) -> None:
    status, body, _ = invoke(http_api_event(envelope(event_id=None)))
    assert status == 202
    stamped = body["events"][0]["event_id"]
    assert stream_ids(aws) == [stamped]


def test_a_base64_body_is_decoded(aws: dict[str, Any]) -> None:
    status, _, _ = invoke(http_api_event(envelope(event_id="b64"), base64_body=True))
    assert status == 202
    assert stream_ids(aws) == ["b64"]


def test_malformed_json_is_a_400_and_nothing_is_written(aws: dict[str, Any]) -> None:
    status, body, _ = invoke(http_api_event('{"type": "x",', raw=True))
    assert status == 400
    assert "not valid JSON" in body["message"]
    assert stream_ids(aws) == []


@pytest.mark.parametrize("body", [None, ""])
def test_an_empty_body_is_a_400(aws: dict[str, Any], body: str | None) -> None:
    status, answer, _ = invoke(http_api_event(body, raw=True))
    assert status == 400
    assert "empty" in answer["message"]


def test_wrong_types_name_every_bad_field_and_nothing_of_the_request_is_written(aws: dict[str, Any]) -> None:
    events = [envelope(), envelope(occurred_at="yesterday"), envelope(type=3, payload=[1]), envelope()]
    status, body, _ = invoke(http_api_event({"events": events}))
    assert status == 400
    assert "nothing was written" in body["message"]
    assert sorted(e["field"] for e in body["errors"]) == [
        "events[1].occurred_at",
        "events[2].payload",
        "events[2].type",
    ]
    assert stream_ids(aws) == []


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"events": []}, "events"),
        ({"events": "x"}, "events"),
        ({"events": [1]}, "events[0]"),
        ({"events": [], "extra": 1}, "extra"),
    ],
)
def test_badly_shaped_batches_are_a_400(aws: dict[str, Any], document: Any, field: str) -> None:
    status, body, _ = invoke(http_api_event(document))
    assert status == 400
    assert field in [e["field"] for e in body["errors"]]


def test_a_list_at_the_top_level_is_a_400(aws: dict[str, Any]) -> None:
    status, body, _ = invoke(http_api_event([envelope()]))
    assert status == 400
    assert "JSON object" in body["message"]


def test_duplicate_event_ids_in_one_request_are_a_400(aws: dict[str, Any]) -> None:
    status, body, _ = invoke(http_api_event({"events": [envelope(event_id="d"), envelope(event_id="d")]}))
    assert status == 400
    assert body["errors"] == [{"field": "events[1].event_id", "message": "duplicates events[0].event_id"}]
    assert stream_ids(aws) == []


def test_an_oversize_body_is_a_413_and_nothing_is_written(aws: dict[str, Any]) -> None:
    big = envelope(payload={"blob": "x" * (1024 * 1024)})
    status, body, _ = invoke(http_api_event({"events": [envelope(), big]}))
    assert status == 413
    assert "limit is 1048576" in body["message"]
    assert stream_ids(aws) == []


@pytest.mark.usefixtures("any_payload")
def test_an_event_too_large_for_one_record_is_a_413(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # a body limit above the record limit: the record limit (less the overflow envelope) decides
    monkeypatch.setenv("MAX_REQUEST_BYTES", str(3 * 1024 * 1024))
    ingest_app.service.cache_clear()
    status, body, _ = invoke(http_api_event({"events": [envelope(), envelope(payload={"blob": "x" * 1_047_000})]}))
    assert status == 413
    assert "event 1" in body["message"]
    assert stream_ids(aws) == []


def test_too_many_events_is_a_413(aws: dict[str, Any]) -> None:
    status, body, _ = invoke(http_api_event({"events": [envelope() for _ in range(501)]}))
    assert status == 413
    assert "limit is 500" in body["message"]


def test_a_stream_that_does_not_exist_spills_every_event_to_the_overflow_queue(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # ResourceNotFoundException is permanent: no retry, straight to storage-first spill
    monkeypatch.setenv("STREAM_NAME", "no-such-stream")
    ingest_app.service.cache_clear()
    events = [envelope(event_id=f"s-{i}") for i in range(3)]
    status, body, _ = invoke(http_api_event({"events": events}))
    assert status == 202
    assert [o["status"] for o in body["events"]] == ["spilled"] * 3
    spilled = drain_queue(aws["sqs"], aws["queue_url"])
    assert sorted(m["event"]["event_id"] for m in spilled) == ["s-0", "s-1", "s-2"]
    assert {m["reason"]["code"] for m in spilled} == {"ResourceNotFoundException"}
    assert all(m["kind"] == "weir.overflow" for m in spilled)
    # each spilled as accepted: the event sent, with the time the API accepted it
    assert all({k: v for k, v in m["event"].items() if k != "accepted_at"} in events for m in spilled)
    assert all("accepted_at" in m["event"] for m in spilled)


def test_each_accepted_event_carries_when_the_api_accepted_it_and_a_client_cannot_set_it(aws: dict[str, Any]) -> None:
    before = datetime.now(UTC)
    status, _, _ = invoke(http_api_event({"events": [envelope(event_id="t-1"), envelope(event_id="t-2")]}))
    assert status == 202
    stamped = {r["event"]["event_id"]: r["event"]["accepted_at"] for r in read_stream(aws["kinesis"], STREAM)}
    assert set(stamped) == {"t-1", "t-2"}
    for value in stamped.values():
        accepted = datetime.fromisoformat(value.replace("Z", "+00:00"))
        assert before - timedelta(seconds=1) <= accepted <= datetime.now(UTC)
    status, body, _ = invoke(http_api_event(envelope(event_id="t-3", accepted_at="2020-01-01T00:00:00Z")))
    assert status == 400
    assert any(error["field"] == "accepted_at" for error in body["errors"])


def test_each_event_carries_the_trace_of_the_invocation_that_took_it_and_its_log_line_names_it(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the trace header Lambda sets for the invocation (X-Ray active tracing)
    root = "1-5759e988-bd862e3fe1be46a994272793"
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1")
    with logged_lines() as lines:
        status, _, _ = invoke(http_api_event({"events": [envelope(event_id="x-1"), envelope(event_id="x-2")]}))
    assert status == 202
    # THEN every event on the stream carries that trace id
    assert {r["event"]["event_id"]: r["event"]["trace_id"] for r in read_stream(aws["kinesis"], STREAM)} == {
        "x-1": root,
        "x-2": root,
    }
    # AND the request's log line names each event with its fate, and the trace
    (answered,) = [line for line in lines if line["message"] == "request answered"]
    assert answered["events_written"] == ["x-1", "x-2"]
    assert answered["trace_id"] == root
    # AND a client cannot send a trace id of its own (the API stamps it)
    status, body, _ = invoke(http_api_event(envelope(event_id="x-3", trace_id="1-00000000-000000000000000000000000")))
    assert status == 400
    assert any(error["field"] == "trace_id" for error in body["errors"])
