"""The event source mapping emulator against responses recorded against AWS.

tests/fixtures/aws-recorded/kinesis-esm.json holds what LocalStack's AWS-validated snapshot tests
recorded (provenance inside). Each scenario here is set up as that test set it up (the mapping's
settings, the records, what the function answers), run on the emulator with a scripted function,
and compared field by field: every key present and absent, every literal with its JSON type
(``null`` is not ``""``), masked values by their format (the same mask index must be the same value
throughout), and the counts (invocations, deliveries per record, ``approximateInvokeCount``).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.e2e.test_esm_fidelity import Harness
from tests.endpoint import LocalEndpoint
from tests.esm_responses import RESPONSES

pytestmark = pytest.mark.e2e

RECORDED = json.loads((Path(__file__).parents[1] / "fixtures" / "aws-recorded" / "kinesis-esm.json").read_text())
# A local age limit, as LocalStack's own runs of these tests use 5 s: AWS refuses less than 60.
LOCAL_MAX_AGE = 1

FORMATS = {
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "sequence-number": r"\d{20,}",
    "start-sequence-number": r"\d{20,}",
    "resource": r"[A-Za-z0-9._-]+",
    "region": r"[a-z]{2}(?:-[a-z]+)+-\d",
    "partition": r"aws",
    "timestamp": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z",
    "kinesis-shard-id": r"shardId-\d{12}",
}
# Whole-value masks whose value is a JSON number, not a string.
NUMBER_MASKS = {"<approximate-arrival-timestamp>"}
_MASK = re.compile(r"<([a-z0-9-]+)(?::([^>]*))?>")


def scenario(name: str) -> dict[str, Any]:
    return dict(RECORDED["scenarios"][name]["recorded"])


def assert_matches(expected: Any, actual: Any, bindings: dict[tuple[str, str], str], path: str = "$") -> None:
    """``actual`` is what AWS recorded: same keys, same JSON types, masked values in format."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        assert set(actual) == set(expected), f"{path}: keys {sorted(actual)} != recorded {sorted(expected)}"
        for key in expected:
            assert_matches(expected[key], actual[key], bindings, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        assert len(actual) == len(expected), f"{path}: {len(actual)} items, recorded {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_matches(e, a, bindings, f"{path}[{i}]")
    elif isinstance(expected, str) and expected in NUMBER_MASKS:
        assert isinstance(actual, int | float), f"{path}: {actual!r} is no number"
        assert not isinstance(actual, bool), f"{path}: {actual!r} is no number"
    elif isinstance(expected, str) and ("<" in expected or "111111111111" in expected):
        assert isinstance(actual, str), f"{path}: expected a string, got {actual!r}"
        _match_masked(expected, actual, bindings, path)
    else:
        assert type(actual) is type(expected), f"{path}: {actual!r} ({type(actual).__name__}) != {expected!r}"
        assert actual == expected, f"{path}: {actual!r} != recorded {expected!r}"


def _match_masked(expected: str, actual: str, bindings: dict[tuple[str, str], str], path: str) -> None:
    pattern, groups, position = "", [], 0
    for mask in _MASK.finditer(expected):
        pattern += re.escape(expected[position : mask.start()]).replace("111111111111", r"\d{12}")
        kind, index = mask.group(1), mask.group(2) or ""
        fmt = FORMATS[kind]
        pattern += f"({fmt})"
        groups.append((kind, index))
        position = mask.end()
    pattern += re.escape(expected[position:]).replace("111111111111", r"\d{12}")
    found = re.fullmatch(pattern, actual)
    assert found, f"{path}: {actual!r} does not have the recorded form {expected!r}"
    for (kind, index), value in zip(groups, found.groups(), strict=True):
        if kind in {"timestamp", "region", "partition"} or not index:
            continue  # the mask names a format, not one value
        bound = bindings.setdefault((kind, index), value)
        assert bound == value, f"{path}: <{kind}:{index}> is {value!r} here and {bound!r} elsewhere"


def settings_of(recorded: dict[str, Any], **local: Any) -> dict[str, Any]:
    """The recorded mapping's settings as the emulator takes them."""
    mapping = recorded["mapping"]
    settings = {
        "batch_size": mapping["BatchSize"],
        "bisect": mapping["BisectBatchOnFunctionError"],
        "report_item_failures": "ReportBatchItemFailures" in mapping["FunctionResponseTypes"],
        "max_retries": mapping["MaximumRetryAttempts"],
        "max_record_age": mapping["MaximumRecordAgeInSeconds"],
        "parallelization": mapping["ParallelizationFactor"],
        "window_seconds": mapping["MaximumBatchingWindowInSeconds"],
        "starting_position": "TRIM_HORIZON",  # records are written before the mapping starts
    }
    return settings | local


def delivered(harness: Harness) -> list[dict[str, Any]]:
    """Every record the function was given, in invocation order."""
    return [record for call in harness.invocations() for record in call["event"]["Records"]]


def sqs_body(harness: Harness) -> dict[str, Any]:
    """The one destination message: a JSON string on the wire, compared decoded as recorded."""
    [body] = harness.destination_bodies()
    assert isinstance(body, str)
    return dict(json.loads(body))


@pytest.fixture
def harness(endpoint: LocalEndpoint, tmp_path: Path) -> Iterator[Harness]:
    running = Harness(endpoint, tmp_path / "invocations.jsonl")
    yield running
    running.stop()


def test_the_records_the_function_receives(harness: Harness) -> None:
    recorded = scenario("test_create_kinesis_event_source_mapping")
    harness.put_raw([(b"hello", f"test_{i}") for i in range(10)])
    harness.start(**settings_of(recorded, window_seconds=0))
    harness.wait_idle(quiet_seconds=1)
    records = sorted(delivered(harness), key=lambda r: r["kinesis"]["partitionKey"])
    assert_matches(recorded["kinesis_records"]["Records"], records, {})


def test_retries_exhausted_to_an_sqs_destination(harness: Harness) -> None:
    recorded = scenario("test_kinesis_event_source_mapping_with_on_failure_destination_config")
    harness.put_raw([(json.dumps({"input": "hello", "value": "world", "raise_error": 1}).encode(), "custom")])
    harness.start(**settings_of(recorded, window_seconds=0))
    harness.wait_idle(quiet_seconds=1)
    [expected] = recorded["sqs_payload"]["Messages"]
    assert_matches(expected["Body"], sqs_body(harness), {})
    assert len(harness.invocations()) == expected["Body"]["requestContext"]["approximateInvokeCount"] == 2


def test_retries_exhausted_to_an_s3_destination(harness: Harness, endpoint: LocalEndpoint) -> None:
    recorded = scenario("test_kinesis_event_source_mapping_with_s3_on_failure_destination")
    s3 = boto3.client("s3", endpoint_url=endpoint.url)
    bucket = endpoint.unique("failures")
    s3.create_bucket(Bucket=bucket)
    data = json.dumps({"input": "hello", "value": "world", "raise_error": 1}).encode()
    harness.put_raw([(data, "custom")])
    mapping = harness.start(destination=f"arn:aws:s3:::{bucket}", **settings_of(recorded, window_seconds=0))
    harness.wait_idle(quiet_seconds=1)
    [entry] = s3.list_objects_v2(Bucket=bucket)["Contents"]
    body = json.loads(s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read())
    # The recording decodes JSON held in strings, so it cannot say whether AWS writes `payload` as a
    # string or an object; AWS's page shows a string: the emulator writes one, readers take both.
    assert isinstance(body["payload"], str)
    body["payload"] = json.loads(body["payload"])
    assert_matches(recorded["record_body"], body, {})
    # The key, as LocalStack's test checks it against AWS: the mapping, the shard, the failure's time.
    when = datetime.fromisoformat(body["timestamp"])
    prefix = f"aws/lambda/{mapping.settings.uuid}/{body['KinesisBatchInfo']['shardId']}/{when:%Y/%m/%d}/"
    assert entry["Key"].startswith(prefix + f"{when:%Y-%m-%dT%H.%M.%S}")
    assert re.fullmatch(
        FORMATS["uuid"], entry["Key"].rsplit("-", 5)[-5] + "-" + "-".join(entry["Key"].rsplit("-", 4)[-4:])
    )


def test_a_partial_batch_response_starts_a_new_batch_with_its_own_retries(harness: Harness) -> None:
    recorded = scenario("test_kinesis_report_batch_item_failures")
    harness.put_raw([(json.dumps({"should_fail": i == 5}).encode(), f"test_{i}") for i in range(6)])
    harness.start(**settings_of(recorded, window_seconds=0))
    harness.wait_idle(quiet_seconds=1)
    # test_5 is delivered 5 times: in its batch of 3, then alone 1 + MaximumRetryAttempts (3) times
    records = sorted(delivered(harness), key=lambda r: r["kinesis"]["partitionKey"])
    assert_matches(recorded["kinesis_records"]["Records"], records, {})
    [expected] = recorded["sqs_payload"]["Messages"]
    assert_matches(expected["Body"], sqs_body(harness), {})
    assert expected["Body"]["responseContext"]["functionError"] is None


def test_every_recorded_batch_item_failures_edge_case(harness: Harness) -> None:
    # GIVEN one record per recorded response (BatchSize 1: each its own batch), in one stream
    cases = [*RESPONSES, "unhandled_exception_in_function"]
    actions = [{"respond": RESPONSES[c]} if c in RESPONSES else {"action": "raise"} for c in cases]
    sequences = harness.put_raw(
        [(json.dumps({"case": c, **a}).encode(), "test") for c, a in zip(cases, actions, strict=True)]
    )
    some = scenario("test_kinesis_report_batch_item_success_scenarios[empty_list_success]")
    harness.start(**settings_of(some, window_seconds=0))
    harness.wait_idle(quiet_seconds=1)
    deliveries: dict[str, list[dict[str, Any]]] = {}
    for record in delivered(harness):
        deliveries.setdefault(record["kinesis"]["sequenceNumber"], []).append(record)
    failures = {body["KinesisBatchInfo"]["startSequenceNumber"]: body for body in harness.destination()}
    for case, sequence in zip(cases, sequences, strict=True):
        kind = "success" if case.endswith("_success") else "failure"
        recorded = scenario(f"test_kinesis_report_batch_item_{kind}_scenarios[{case}]")
        assert settings_of(recorded) == settings_of(some), case  # one mapping serves every case
        # THEN each record was delivered as often as AWS delivered it, in the recorded shape
        expected_events = recorded["kinesis_events"]
        got = deliveries[sequence]
        assert len(got) == len(expected_events), case
        for expected, actual in zip(expected_events, got, strict=True):
            [expected_record] = expected["Records"]
            assert_matches(
                {**expected_record, "kinesis": {**expected_record["kinesis"], "data": actual["kinesis"]["data"]}},
                actual,
                {},
                case,
            )
        # AND a failure wrote what AWS wrote, functionError null unless the function raised
        if kind == "success":
            assert sequence not in failures, case
            continue
        [message] = recorded["sqs_payload"]["Messages"]
        assert_matches(message["Body"], failures[sequence], {}, case)


def test_a_record_that_expired_before_any_invocation(harness: Harness) -> None:
    recorded = scenario("test_kinesis_maximum_record_age_exceeded[expire-before-ingestion]")
    harness.put_raw([(b"stream-data", "test")])
    time.sleep(LOCAL_MAX_AGE + 0.5)
    harness.start(**settings_of(recorded, max_record_age=LOCAL_MAX_AGE, window_seconds=0))
    harness.wait_idle(quiet_seconds=1)
    assert harness.invocations() == []
    # no responseContext at all, and approximateInvokeCount 1 although the function never ran
    [expected] = recorded["record_age_exceeded_payload"]["Messages"]
    assert_matches(expected["Body"], sqs_body(harness), {})


def test_a_record_that_expired_while_retrying(harness: Harness) -> None:
    recorded = scenario("test_kinesis_maximum_record_age_exceeded[expire-while-retrying]")
    harness.put_raw([(b"stream-data", "test")])
    age = LOCAL_MAX_AGE + 5  # room for a few invocations before the record expires, on a busy machine too
    harness.start(env={"SCRIPT_RAISE": "1"}, **settings_of(recorded, max_record_age=age, window_seconds=0))
    harness.wait_idle(timeout=age + 20, quiet_seconds=1)
    [expected] = recorded["record_age_exceeded_payload"]["Messages"]
    body = sqs_body(harness)
    # AWS invoked 8 times in its 60 s; here the count is however many invocations the age allowed
    invocations = len(harness.invocations())
    assert invocations >= 2
    assert body["requestContext"]["approximateInvokeCount"] == invocations
    recorded_count = expected["Body"]["requestContext"]["approximateInvokeCount"]
    body["requestContext"]["approximateInvokeCount"] = recorded_count
    assert_matches(expected["Body"], body, {})


def test_expired_records_leave_the_batch_and_the_rest_is_delivered(harness: Harness) -> None:
    recorded = scenario("test_kinesis_maximum_record_age_exceeded_discard_records")
    # the later records must stay younger than the age until they are delivered, on a busy machine too
    age = LOCAL_MAX_AGE + 3
    harness.put_raw([(b"stream-data", "test")])
    time.sleep(age + 0.5)
    harness.put_raw([(f"stream-data-{i + 1}".encode(), "test") for i in range(5)])
    harness.start(**settings_of(recorded, max_record_age=age, window_seconds=0))
    harness.wait_idle(quiet_seconds=1)
    [expected] = recorded["record_age_exceeded_payload"]["Messages"]
    assert_matches(expected["Body"], sqs_body(harness), {})
    records = sorted(delivered(harness), key=lambda r: base64.b64decode(r["kinesis"]["data"]))
    assert_matches(recorded["Records"], records, {})
    assert len(harness.invocations()) == 1
