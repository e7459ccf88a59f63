"""Fault definitions and profiles: clear errors, nothing half-loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.faults import FIS_ACTIONS, Fault, FaultError, FaultSet, load_profile

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
        ({"fis_action": "aws:kinesis:nothing"}, "fis_action"),
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


def test_the_fis_actions_map_to_faults() -> None:
    for action in FIS_ACTIONS:
        assert Fault.from_json({"fis_action": action}).service == "kinesis"


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
