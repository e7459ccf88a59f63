"""The local HTTP API in front of the real ingest function, as API Gateway answers."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import urllib3

from local.runtime import LocalRuntime
from tests.factories import envelope

pytestmark = pytest.mark.e2e


# a short stand-in for AWS's ~60 s (local.awslambda.esm.DISABLE_DELAY_SECONDS), so the test meets the delay quickly
DISABLE_DELAY = 8.0


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    params = {
        "IngestReservedConcurrency": "1",
        "ApiThrottlingRateLimit": "4",
        "ApiThrottlingBurstLimit": "4",
        "ShardCount": "1",
        "LogLevel": "DEBUG",  # the process consumer's line per stored event (make trace's tests)
    }
    running = LocalRuntime(
        params, port=0, api_port=0, stack_name="api-test", disable_delay_seconds=DISABLE_DELAY
    ).start(warm=False)
    yield running
    running.stop()


def post(runtime: LocalRuntime, body: Any, path: str = "/events") -> urllib3.BaseHTTPResponse:
    return urllib3.request("POST", runtime.api_url + path, body=json.dumps(body).encode(), retries=False, timeout=30)


def test_posting_events_answers_202_with_an_outcome_per_event(runtime: LocalRuntime) -> None:
    time.sleep(1.1)  # a full token bucket
    response = post(runtime, {"events": [envelope(event_id="api-1"), envelope(event_id="api-2")]})
    assert response.status == 202
    assert [o["event_id"] for o in json.loads(response.data)["events"]] == ["api-1", "api-2"]


def test_a_bad_request_is_the_functions_400(runtime: LocalRuntime) -> None:
    time.sleep(1.1)
    response = post(runtime, {"events": [envelope(occurred_at="later")]})
    assert response.status == 400
    assert json.loads(response.data)["errors"][0]["field"] == "events[0].occurred_at"


def test_an_unknown_route_is_404(runtime: LocalRuntime) -> None:
    assert post(runtime, {}, path="/nowhere").status == 404


def test_above_the_route_throttle_api_gateway_answers_429(runtime: LocalRuntime) -> None:
    time.sleep(1.1)
    statuses = [post(runtime, envelope()).status for _ in range(8)]
    assert statuses.count(429) >= 3
    assert statuses[0] == 202


def test_with_the_function_at_its_concurrency_the_api_answers_503(runtime: LocalRuntime) -> None:
    assert runtime.endpoint is not None
    assert runtime.endpoint.server is not None
    fault = runtime.endpoint.server.gateway.faults.add(
        {"service": "kinesis", "operation": "PutRecords", "latency_ms": 1500, "count": 1}
    )
    time.sleep(1.1)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, runtime, envelope())
        time.sleep(0.3)
        second = pool.submit(post, runtime, envelope())
        statuses = sorted([first.result().status, second.result().status])
    runtime.endpoint.server.gateway.faults.remove(fault.id)
    assert statuses == [202, 503]


# --- the Lambda API and CloudFormation outputs on the local endpoint ------------------------------


def aws_client(runtime: LocalRuntime, service: str) -> Any:
    """A client of the local endpoint, as the AWS CLI would use it there."""
    from local.cloudformation.deployer import local_client

    assert runtime.endpoint is not None
    return local_client(service, runtime.endpoint.url)


def test_describe_stacks_answers_the_local_outputs(runtime: LocalRuntime) -> None:
    [stack] = aws_client(runtime, "cloudformation").describe_stacks(StackName="api-test")["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs == runtime.outputs()
    assert outputs["RedriveFunctionName"] == "api-test-RedriveFunction"


def test_the_redrive_function_is_invoked_by_its_physical_name(runtime: LocalRuntime) -> None:
    lambda_ = aws_client(runtime, "lambda")
    name = runtime.outputs()["RedriveFunctionName"]
    answer = lambda_.invoke(FunctionName=name, Payload=json.dumps({"dry_run": True}).encode())
    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    report = json.loads(answer["Payload"].read())
    assert report["dry_run"] is True
    assert lambda_.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    bad = lambda_.invoke(FunctionName=name, Payload=json.dumps({"sources": ["nowhere"]}).encode())
    assert bad["FunctionError"] == "Unhandled"
    with pytest.raises(lambda_.exceptions.ResourceNotFoundException):
        lambda_.invoke(FunctionName="no-such-function", Payload=b"{}")


def test_a_mapping_disabled_through_the_api_stops_after_the_delay_and_resumes_from_its_checkpoint(
    runtime: LocalRuntime,
) -> None:
    lambda_ = aws_client(runtime, "lambda")
    dynamodb = aws_client(runtime, "dynamodb")
    kinesis = aws_client(runtime, "kinesis")
    outputs = runtime.outputs()
    [mapping] = lambda_.list_event_source_mappings(FunctionName="api-test-ProcessFunction")["EventSourceMappings"]
    assert mapping["State"] == "Enabled"
    assert mapping["BisectBatchOnFunctionError"] is True

    def put(prefix: str) -> list[str]:
        events = [envelope(event_id=f"{prefix}-{i}", partition_key=f"k{i}") for i in range(5)]
        kinesis.put_records(
            StreamName=outputs["StreamName"],
            Records=[{"Data": json.dumps(e).encode(), "PartitionKey": e["partition_key"]} for e in events],
        )
        return [e["event_id"] for e in events]

    def stored(ids: list[str]) -> int:
        keys = [{"event_id": {"S": i}} for i in ids]
        found = dynamodb.batch_get_item(RequestItems={outputs["EventsTableName"]: {"Keys": keys}})
        return len(found["Responses"][outputs["EventsTableName"]])

    def wait_for(ids: list[str], seconds: float) -> int:
        deadline = time.monotonic() + seconds
        while stored(ids) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.3)
        return stored(ids)

    # WHEN it is disabled, and its batch size changed, through the API
    updated = lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False, BatchSize=7)
    assert updated["State"] == "Disabled"
    assert lambda_.get_event_source_mapping(UUID=mapping["UUID"])["BatchSize"] == 7
    # THEN, as in AWS, it reports Disabled at once and still delivers for a while
    during = put("during-delay")
    assert wait_for(during, DISABLE_DELAY) == len(during)
    time.sleep(DISABLE_DELAY)
    # AND after the delay nothing is processed
    paused = put("paused")
    time.sleep(3)
    assert stored(paused) == 0
    # AND enabled again, it goes on from where it was: every event stored once
    lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    assert wait_for(paused, 30) == len(paused)
    with pytest.raises(lambda_.exceptions.InvalidParameterValueException):
        lambda_.update_event_source_mapping(UUID=mapping["UUID"], ParallelizationFactor=3)


def test_make_redrive_takes_the_same_path_locally_as_against_a_deployed_stack(
    runtime: LocalRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    from tools.redrive import main

    # the running runtime's state names its endpoint; outputs and the invoke go through the APIs
    assert main(["--event", '{"dry_run": true}']) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True
    assert main(["--event", '{"sources": ["nowhere"]}']) == 1


def test_the_breaker_function_disables_the_consumer_s_mapping_while_forced_open_and_enables_it_after(
    runtime: LocalRuntime,
) -> None:
    lambda_ = aws_client(runtime, "lambda")
    name = runtime.outputs()["BreakerFunctionName"]

    def breaker(event: dict[str, str]) -> dict[str, object]:
        answer = lambda_.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        assert "FunctionError" not in answer, answer["Payload"].read()
        return dict(json.loads(answer["Payload"].read()))

    assert breaker({})["state"] == "closed"
    opened = breaker({"force": "open", "reason": "sink maintenance"})
    assert (opened["state"], opened["forced"], opened["reason"]) == ("open", True, "sink maintenance")
    [mapping] = lambda_.list_event_source_mappings(FunctionName="api-test-ProcessFunction")["EventSourceMappings"]
    assert mapping["State"] == "Disabled"
    assert breaker({})["state"] == "open"  # a scheduled run keeps a forced breaker open
    released = breaker({"force": "release"})
    assert (released["state"], released["forced"]) == ("closed", False)
    assert lambda_.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled"
    bad = lambda_.invoke(FunctionName=name, Payload=json.dumps({"force": "sideways"}).encode())
    assert bad["FunctionError"] == "Unhandled"


def test_make_breaker_reports_and_forces_through_the_same_path_as_against_a_deployed_stack(
    runtime: LocalRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    from tools.breaker import main

    assert main([]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "closed"
    assert main(["--force", "open", "--reason", "a test"]) == 0
    forced = json.loads(capsys.readouterr().out)
    assert (forced["state"], forced["reason"], forced["mapping_state"]) == ("open", "a test", "Disabling")
    assert main(["--force", "release"]) == 0
    assert json.loads(capsys.readouterr().out)["mapping_state"] == "Enabling"


# --- make trace: where one event is, from the stack's own stores ------------------------------------------


def trace(event_id: str, expect: str, capsys: pytest.CaptureFixture[str], timeout: float = 60) -> str:
    """make trace's answer for ``event_id`` once it says ``expect`` (the logs reach CloudWatch Logs
    about a second after they are written, the table once the consumer has run)."""
    from tools.trace import main

    deadline = time.monotonic() + timeout
    while True:
        code = main(["--event", event_id])
        out = capsys.readouterr().out
        if (code == 0 and expect in out) or time.monotonic() > deadline:
            assert code == 0, f"make trace exited {code}"
            assert expect in out, out
            return out
        time.sleep(1)


def log_line(runtime: LocalRuntime, function: str, event_id: str, message: str) -> dict[str, Any]:
    """The function's log line ``message`` that names ``event_id``, through the local CloudWatch Logs
    (a line reaches it about a second after the function wrote it)."""
    logs = aws_client(runtime, "logs")
    deadline = time.monotonic() + 20
    while True:
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/api-test-{function}", filterPattern=f'"{event_id}"')
        lines: list[dict[str, Any]] = [json.loads(e["message"]) for e in found["events"]]
        matching = [line for line in lines if line["message"] == message]
        if matching or time.monotonic() > deadline:
            (line,) = matching
            return line
        time.sleep(0.5)


def test_make_trace_finds_a_stored_event_with_one_trace_id_in_every_function_s_log(
    runtime: LocalRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    event_id = f"trace-stored-{time.time_ns()}"
    assert post(runtime, envelope(event_id=event_id)).status == 202
    out = trace(event_id, "events table", capsys)
    # THEN make trace says when it was accepted, where it was read, its latency and its trace
    assert "the API answered: written" in out
    assert "stream     shardId-" in out
    assert " ms from the API to the table" in out
    item = aws_client(runtime, "dynamodb").get_item(
        TableName=runtime.outputs()["EventsTableName"], Key={"event_id": {"S": event_id}}
    )["Item"]
    trace_id = item["trace_id"]["S"]
    assert f"trace      {trace_id}" in out
    # AND the ingest's line about it and the process consumer's carry the same trace id
    answered = log_line(runtime, "ingest", event_id, "request answered")
    stored = log_line(runtime, "process", event_id, "event stored")
    assert answered["trace_id"] == stored["trace_id"] == trace_id
    assert stored["event_id"] == event_id
    assert answered["xray_trace_id"] == trace_id  # the ingest invocation's own trace


def test_make_trace_finds_a_quarantined_event(runtime: LocalRuntime, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a record the API would have refused, written to the stream directly: no date-time
    event_id = f"trace-poison-{time.time_ns()}"
    poison = envelope(event_id=event_id, occurred_at="yesterday")
    aws_client(runtime, "kinesis").put_record(
        StreamName=runtime.outputs()["StreamName"], Data=json.dumps(poison).encode(), PartitionKey="p"
    )
    out = trace(event_id, "quarantine", capsys)
    assert "reason     invalid envelope: occurred_at" in out


def test_make_trace_finds_an_event_waiting_in_the_overflow_queue(
    runtime: LocalRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a stream that refuses every entry while the event is posted: the API spills it
    assert runtime.endpoint is not None
    assert runtime.endpoint.server is not None
    faults = runtime.endpoint.server.gateway.faults
    refusing = faults.add(
        {
            "service": "kinesis",
            "operation": "PutRecords",
            "error": "ProvisionedThroughputExceededException",
            "per_entry": True,
        }
    )
    event_id = f"trace-spilled-{time.time_ns()}"
    try:
        answer = post(runtime, envelope(event_id=event_id))
    finally:
        faults.remove(refusing.id)
    assert answer.status == 202
    assert json.loads(answer.data)["events"][0]["status"] == "spilled"
    out = trace(event_id, "overflow queue", capsys)
    assert "the API answered: spilled" in out
    assert "the next redrive run puts it on the stream" in out


def test_make_trace_names_an_unknown_event_and_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    from tools.trace import NOT_FOUND, main

    assert main(["--event", "no-such-event-anywhere"]) == NOT_FOUND
    assert "event no-such-event-anywhere is unknown" in capsys.readouterr().err
