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


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    params = {
        "IngestReservedConcurrency": "1",
        "ApiThrottlingRateLimit": "4",
        "ApiThrottlingBurstLimit": "4",
        "ShardCount": "1",
    }
    running = LocalRuntime(params, port=0, api_port=0, stack_name="api-test").start(warm=False)
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
