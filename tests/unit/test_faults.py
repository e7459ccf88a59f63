"""Fault definitions and profiles: clear errors, nothing half-loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.faults import Fault, FaultError, FaultSet, expand, load_profile

PROFILES = Path(__file__).resolve().parents[2] / "local" / "fault-profiles"


def test_the_shipped_profiles_load() -> None:
    for path in PROFILES.glob("*.json"):
        assert load_profile(str(path)), path


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({}, "service: required"),
        ({"service": "nowhere"}, "unknown 'nowhere'"),
        ({"service": "kinesis", "probability": 2}, "probability"),
        ({"service": "kinesis", "latency_ms": -1}, "latency_ms"),
        ({"service": "kinesis", "per_entry": True}, "per_entry"),
        ({"service": "kinesis", "colour": "red"}, "unknown field"),
        ({"fis_action": "aws:kinesis:stream-expired-iterator-exception"}, "expand"),
    ],
)
def test_a_bad_fault_is_refused_naming_the_field(fault: dict[str, object], message: str) -> None:
    with pytest.raises(FaultError, match=message):
        Fault.from_json(fault)


def test_a_profile_with_one_bad_fault_is_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps([{"service": "kinesis", "latency_ms": 5}, {"service": "kinesis", "status": 99}]))
    with pytest.raises(FaultError, match="fault 1: status"):
        load_profile(str(path))


def test_an_fis_action_stands_for_one_fault_per_operation_it_fails() -> None:
    faults = expand({"fis_action": "aws:kinesis:stream-provisioned-throughput-exception", "probability": 0.25})
    assert [(f["operation"], f["error"], f["probability"]) for f in faults] == [
        ("PutRecord", "ProvisionedThroughputExceededException", 0.25),
        ("PutRecords", "ProvisionedThroughputExceededException", 0.25),
        ("GetRecords", "ProvisionedThroughputExceededException", 0.25),
    ]
    narrowed = expand({"fis_action": "aws:kinesis:stream-provisioned-throughput-exception", "operation": "GetRecords"})
    assert [f["operation"] for f in narrowed] == ["GetRecords"]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"fis_action": "aws:kinesis:nothing"}, "no local counterpart"),
        ({"fis_action": "aws:kinesis:stream-expired-iterator-exception", "operation": "PutRecords"}, "not one"),
    ],
)
def test_a_bad_fis_action_is_refused_naming_it(fault: dict[str, object], message: str) -> None:
    with pytest.raises(FaultError, match=message):
        expand(fault)


def test_a_list_with_one_bad_fault_adds_none_of_them() -> None:
    faults = FaultSet()
    with pytest.raises(FaultError, match="fault 1: status"):
        faults.add_all([{"service": "kinesis", "latency_ms": 5}, {"service": "kinesis", "status": 99}])
    assert faults.list() == []
    added = faults.add_all([{"fis_action": "aws:kinesis:stream-expired-iterator-exception"}, {"service": "sqs"}])
    assert [f.operation for f in added] == ["GetRecords", None]
    assert len(faults.list()) == 2


def test_count_and_matching() -> None:
    faults = FaultSet()
    fault = faults.add(
        {"service": "dynamodb", "operation": "PutItem", "error": "X", "count": 2, "match": {"TableName": "t"}}
    )
    assert faults.pick("dynamodb", "PutItem", {"TableName": "other"}) is None
    assert faults.pick("dynamodb", "GetItem", {"TableName": "t"}) is None
    assert faults.pick("dynamodb", "PutItem", {"TableName": "t"}) is fault
    assert faults.pick("dynamodb", "PutItem", {"TableName": "t"}) is fault
    assert faults.pick("dynamodb", "PutItem", {"TableName": "t"}) is None  # retired after two
    assert faults.list() == []
