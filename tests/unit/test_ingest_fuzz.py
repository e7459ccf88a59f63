"""Fuzzing the ingest handler from its OpenAPI document (docs/openapi.yaml): never a 5xx, never a
half-written request, and every answer shaped as the document says."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

import functions.ingest.app as ingest_app
from tests.aws_helpers import read_stream
from tests.factories import http_api_event
from tests.fakes import FakeLambdaContext
from tests.stack import ingest_environment

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())
RESPONSES = SPEC["paths"]["/events"]["post"]["responses"]


def required_fields(status: int) -> set[str]:
    schema = RESPONSES[str(status)]["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[-1]
    found: set[str] = set()
    pending = [SPEC["components"]["schemas"][name]]
    while pending:
        current = pending.pop()
        found.update(current.get("required", []))
        for part in current.get("allOf", []):
            pending.append(SPEC["components"]["schemas"][part["$ref"].rsplit("/", 1)[-1]] if "$ref" in part else part)
    return found


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
timestamps = st.sampled_from(["2026-11-23T12:00:00Z", "2026-11-23T12:00:00.5+02:00", "2026-02-30T00:00:00Z", "now", ""])
envelopes = st.fixed_dictionaries(
    {
        "type": st.text(max_size=10),
        "occurred_at": timestamps,
        "payload": st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    },
    optional={
        "event_id": st.text(max_size=130) | st.integers(),
        "partition_key": st.text(max_size=260),
        "extra": json_values,
    },
)
documents = envelopes | st.fixed_dictionaries({"events": st.lists(envelopes, max_size=6)}) | json_values
bodies = documents.map(lambda d: ("json", d)) | st.binary(max_size=200).map(lambda b: ("bytes", b))


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        kinesis = boto3.client("kinesis", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="fuzz-overflow")["QueueUrl"]
        for name, value in ingest_environment("fuzz-0", queue).items():
            patch.setenv(name, value)
        yield {"kinesis": kinesis, "patch": patch, "n": 0}
        ingest_app.service.cache_clear()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, as_base64=st.booleans())
def test_no_5xx_no_half_written_request_and_answers_as_documented(
    aws: dict[str, Any], body: tuple[str, Any], as_base64: bool
) -> None:
    # a fresh stream per example, so what one request wrote is exactly what is on it
    aws["n"] += 1
    stream = f"fuzz-{aws['n']}"
    aws["kinesis"].create_stream(StreamName=stream, ShardCount=1)
    aws["patch"].setenv("STREAM_NAME", stream)
    ingest_app.service.cache_clear()
    kind, value = body
    if kind == "json":
        event = http_api_event(value, base64_body=as_base64)
    else:
        event = http_api_event(None, raw=True)
        event["body"] = base64.b64encode(value).decode() if as_base64 else value.decode("latin-1")
        event["isBase64Encoded"] = as_base64
    response = ingest_app.lambda_handler(event, FakeLambdaContext())
    status = response["statusCode"]
    answer = json.loads(response["body"])
    assert status in {202, 400, 413}, (status, answer)
    assert required_fields(status) <= set(answer), (status, answer)
    written = read_stream(aws["kinesis"], stream)
    if status == 202:
        assert len(written) == answer["accepted"] == len(answer["events"])
        assert {r["event"]["event_id"] for r in written} == {o["event_id"] for o in answer["events"]}
    else:
        assert written == []
