"""The event source mapping's batch rules (local/awslambda/esm_rules.py) against the scenarios recorded from AWS
(tests/fixtures/aws-recorded/kinesis-esm.json): how often each record reaches the function, which
records reach the on-failure destination, and with what invoke count. A fake function answers; no
stream, no clock but the test's."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.awslambda.esm_rules import BatchPlan, BatchRules, first_to_retry
from tests.esm_responses import RESPONSES

RECORDED = json.loads((Path(__file__).parents[1] / "fixtures" / "aws-recorded" / "kinesis-esm.json").read_text())


def scenario(name: str) -> dict[str, Any]:
    return dict(RECORDED["scenarios"][name]["recorded"])


def rules_of(recorded: dict[str, Any]) -> BatchRules:
    mapping = recorded["mapping"]
    return BatchRules(
        max_retries=mapping["MaximumRetryAttempts"],
        max_record_age=mapping["MaximumRecordAgeInSeconds"],
        bisect=mapping["BisectBatchOnFunctionError"],
    )


@dataclass(frozen=True)
class Record:
    name: str
    arrival: float = 0.0


@dataclass
class Run:
    deliveries: list[list[str]]  # the record names of each invocation, in order
    destination: list[tuple[str, list[str], int]]  # (condition, record names, approximateInvokeCount)


# A function: the batch's record names -> (ok, payload).
Function = Callable[[list[str]], tuple[bool, Any]]


def run(
    records: list[Record],
    recorded: dict[str, Any],
    function: Function,
    *,
    clock: Callable[[], float] = lambda: 0.0,
    after_invoke: Callable[[], None] = lambda: None,
) -> Run:
    """Every batch of ``records`` (BatchSize at a time) through the rules until each is done."""
    mapping = recorded["mapping"]
    rules, size = rules_of(recorded), mapping["BatchSize"]
    report = "ReportBatchItemFailures" in mapping["FunctionResponseTypes"]
    result = Run([], [])
    for start in range(0, len(records), size):
        plan = BatchPlan(records[start : start + size], rules)
        for _ in range(1000):
            if plan.done:
                break
            expired = plan.expire(clock(), lambda r: r.arrival)
            if expired is not None:
                result.destination.append(("RecordAgeExceeded", [r.name for r in expired.records], expired.invokes))
                continue
            names = [r.name for r in plan.current]
            result.deliveries.append(names)
            ok, payload = function(names)
            after_invoke()
            step = plan.answered(first_to_retry(names, ok, payload, report_item_failures=report), not ok)
            if step.exhausted:
                result.destination.append(("RetryAttemptsExhausted", [r.name for r in step.exhausted], step.invokes))
        assert plan.done
    return result


def recorded_failure(recorded: dict[str, Any], key: str = "sqs_payload") -> tuple[str, int, int]:
    """(condition, approximateInvokeCount, batchSize) of the recorded on-failure record."""
    [message] = recorded[key]["Messages"]
    body = message["Body"]
    return (
        body["requestContext"]["condition"],
        body["requestContext"]["approximateInvokeCount"],
        body["KinesisBatchInfo"]["batchSize"],
    )


@pytest.mark.parametrize("case", [*RESPONSES, "unhandled_exception_in_function"])
def test_each_recorded_answer_is_delivered_and_failed_as_in_aws(case: str) -> None:
    # GIVEN the recorded mapping (BatchSize 1, MaximumRetryAttempts 2) and a function answering as recorded
    kind = "success" if case.endswith("_success") else "failure"
    recorded = scenario(f"test_kinesis_report_batch_item_{kind}_scenarios[{case}]")

    def function(names: list[str]) -> tuple[bool, Any]:
        return (False, None) if case not in RESPONSES else (True, RESPONSES[case])

    # WHEN its one record goes through the rules
    result = run([Record("shardId-000000000000:1")], recorded, function)
    # THEN it reached the function as often as in AWS, and the destination as in AWS
    assert len(result.deliveries) == len(recorded["kinesis_events"])
    if kind == "success":
        assert result.destination == []
    else:
        condition, invokes, batch_size = recorded_failure(recorded)
        assert result.destination == [(condition, ["shardId-000000000000:1"], invokes)]
        assert batch_size == 1


def test_a_partial_batch_response_starts_a_new_batch_with_its_own_retries() -> None:
    # GIVEN six records in batches of three, the last always reported failed (MaximumRetryAttempts 3)
    recorded = scenario("test_kinesis_report_batch_item_failures")
    records = [Record(f"test_{i}") for i in range(6)]

    def function(names: list[str]) -> tuple[bool, Any]:
        failed = [{"itemIdentifier": name} for name in names if name == "test_5"]
        return True, {"batchItemFailures": failed}

    result = run(records, recorded, function)
    # THEN test_5 reached the function 1 + 4 times, as the recording shows, and went on alone
    delivered = sorted(name for names in result.deliveries for name in names)
    recorded_names = sorted(r["kinesis"]["partitionKey"] for r in recorded["kinesis_records"]["Records"])
    assert delivered == recorded_names
    condition, invokes, batch_size = recorded_failure(recorded)
    assert result.destination == [(condition, ["test_5"], invokes)]
    assert (invokes, batch_size) == (4, 1)


def test_a_checkpoint_before_the_lowest_failure() -> None:
    recorded = scenario("test_kinesis_report_batch_item_failures")
    calls: list[list[str]] = []

    def function(names: list[str]) -> tuple[bool, Any]:
        calls.append(names)
        if len(calls) == 1:  # the first answer reports b and c; the retry starts at b
            return True, {"batchItemFailures": [{"itemIdentifier": "c"}, {"itemIdentifier": "b"}]}
        return True, {}

    result = run([Record("a"), Record("b"), Record("c")], recorded, function)
    assert result.deliveries == [["a", "b", "c"], ["b", "c"]]
    assert result.destination == []


def test_a_record_that_expired_before_any_invocation_never_reaches_the_function() -> None:
    recorded = scenario("test_kinesis_maximum_record_age_exceeded[expire-before-ingestion]")
    age = recorded["mapping"]["MaximumRecordAgeInSeconds"]
    result = run([Record("old", arrival=0.0)], recorded, lambda names: (True, None), clock=lambda: age + 1.0)
    condition, invokes, _ = recorded_failure(recorded, "record_age_exceeded_payload")
    assert result.deliveries == []
    assert result.destination == [(condition, ["old"], invokes)]
    assert invokes == 1  # although the function never ran


def test_a_record_that_expires_while_retrying_counts_every_invocation() -> None:
    # GIVEN a function that always raises, retries without end, and 8 s between invocations
    recorded = scenario("test_kinesis_maximum_record_age_exceeded[expire-while-retrying]")
    now = [0.0]

    def tick() -> None:
        now[0] += 8.0  # AWS's recording: 8 invocations within the record's 60 s (one at 0 s, the last at 56 s)

    result = run(
        [Record("r", arrival=0.0)], recorded, lambda names: (False, None), clock=lambda: now[0], after_invoke=tick
    )
    condition, invokes, _ = recorded_failure(recorded, "record_age_exceeded_payload")
    assert result.destination == [(condition, ["r"], len(result.deliveries))]
    assert len(result.deliveries) == invokes == 8


def test_expired_records_leave_the_front_of_the_batch_and_the_rest_is_delivered() -> None:
    recorded = scenario("test_kinesis_maximum_record_age_exceeded_discard_records")
    age = recorded["mapping"]["MaximumRecordAgeInSeconds"]
    records = [Record("stream-data", 0.0)] + [Record(f"stream-data-{i + 1}", age + 5.0) for i in range(5)]
    result = run(records, recorded, lambda names: (True, None), clock=lambda: age + 6.0)
    condition, invokes, batch_size = recorded_failure(recorded, "record_age_exceeded_payload")
    assert result.destination == [(condition, ["stream-data"], invokes)]
    assert result.deliveries == [[f"stream-data-{i + 1}" for i in range(5)]]
    assert len(recorded["Records"]) == 5
    assert batch_size == 1


def test_bisection_isolates_the_bad_record_without_counting_retries() -> None:
    # GIVEN a batch of 8 with one record that makes the function raise; bisect on, 1 retry
    recorded = {"mapping": {**scenario("test_kinesis_report_batch_item_failures")["mapping"], "BatchSize": 8}}
    recorded["mapping"] |= {"BisectBatchOnFunctionError": True, "MaximumRetryAttempts": 1, "FunctionResponseTypes": []}
    records = [Record(f"r{i}") for i in range(8)]
    result = run(records, recorded, lambda names: ("r5" not in names, None))
    # THEN only r5 goes to the destination, after 1 + 1 invocations of its own; the rest is stored once
    assert result.destination == [("RetryAttemptsExhausted", ["r5"], 2)]
    succeeded = [n for names in result.deliveries if "r5" not in names for n in names]
    assert sorted(succeeded) == sorted(f"r{i}" for i in range(8) if i != 5)


def test_without_bisection_the_whole_batch_is_retried_then_sent_to_the_destination() -> None:
    recorded = scenario("test_kinesis_event_source_mapping_with_on_failure_destination_config")
    recorded = {"mapping": {**recorded["mapping"], "BatchSize": 4}}
    result = run([Record(f"r{i}") for i in range(4)], recorded, lambda names: (False, None))
    retries = recorded["mapping"]["MaximumRetryAttempts"]
    assert result.deliveries == [["r0", "r1", "r2", "r3"]] * (1 + retries)
    assert result.destination == [("RetryAttemptsExhausted", ["r0", "r1", "r2", "r3"], 1 + retries)]


def test_a_tumbling_window_answer_without_state_fails_the_batch() -> None:
    assert first_to_retry(["a"], True, {"batchItemFailures": []}, report_item_failures=True, needs_state=True) == 0
    assert first_to_retry(["a"], True, {"state": {}}, report_item_failures=True, needs_state=True) is None
