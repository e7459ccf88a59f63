"""The stack's FIS experiment templates: only actions the FIS actions reference names, targets and
a role limited to this stack's stream, stop conditions on its alarms, and the same experiments as
local faults (local/fis/experiments.py)."""

from __future__ import annotations

from typing import Any

import pytest

from local.faults import load_profile
from local.fis.experiments import ACTIONS, experiment_faults
from tools.fis import ExperimentError, duration_seconds
from tools.template import ROOT, load_template, translate

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/weir-events"


def experiments(params: dict[str, str]) -> dict[str, dict[str, Any]]:
    resources = translate(load_template(), params)["Resources"]
    return {k: v for k, v in resources.items() if v["Type"] == "AWS::FIS::ExperimentTemplate"}


def test_the_experiments_are_created_only_when_asked_for() -> None:
    source = load_template()
    chaos = {k: v for k, v in source["Resources"].items() if k.startswith("Chaos")}
    assert set(chaos) == {"ChaosExperimentRole", "ChaosKinesisThrottleExperiment", "ChaosExpiredIteratorExperiment"}
    assert all(r.get("Condition") == "CreateChaosExperiments" for r in chaos.values())
    assert source["Parameters"]["ChaosExperiments"]["Default"] == "false"
    outputs = {k: v for k, v in source["Outputs"].items() if k.startswith("Chaos")}
    assert outputs
    assert all(o.get("Condition") == "CreateChaosExperiments" for o in outputs.values())


def test_each_experiment_uses_a_known_action_on_the_stream_and_stops_on_the_stacks_alarms() -> None:
    source = load_template()
    alarms = {k for k, v in source["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    templates = {k: v for k, v in source["Resources"].items() if v["Type"] == "AWS::FIS::ExperimentTemplate"}
    assert templates
    for name, template in templates.items():
        props = template["Properties"]
        assert props["RoleArn"] == {"Fn::GetAtt": ["ChaosExperimentRole", "Arn"]}, name
        assert props["Targets"]["Stream"]["ResourceArns"] == [{"Fn::GetAtt": ["Stream", "Arn"]}], name
        for action in props["Actions"].values():
            known = ACTIONS[action["ActionId"]]  # a KeyError names an action local.fis.experiments does not know
            assert action["Targets"] == {known.target_key: "Stream"}, name
            assert action["Parameters"] == {
                "duration": {"Ref": "ChaosDuration"},
                "percentage": {"Ref": "ChaosPercentage"},
            }
        referenced = set()
        for condition in props["StopConditions"]:
            assert condition["Source"] == "aws:cloudwatch:alarm"
            referenced |= {ref["Fn::GetAtt"][0] for ref in _getatts(condition["Value"])}
        assert 1 <= len(props["StopConditions"]) <= 5  # FIS's quota of stop conditions per template
        assert referenced <= alarms
        assert {"FailureQueueNotEmptyAlarm", "FailureObjectsArrivedAlarm", "IteratorAgeAlarm"} <= referenced


def test_the_experiment_role_injects_only_the_two_actions_into_this_stream() -> None:
    role = load_template()["Resources"]["ChaosExperimentRole"]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "fis.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    inject = next(s for s in statements if s["Action"] == "kinesis:InjectApiError")
    limits = inject["Condition"]["ForAllValues:StringEquals"]
    assert set(limits["kinesis:FisActionId"]) == set(ACTIONS)
    assert limits["kinesis:FisTargetArns"] == [{"Fn::GetAtt": ["Stream", "Arn"]}]
    others = [s for s in statements if s is not inject]
    assert all(s["Resource"] == {"Fn::GetAtt": ["Stream", "Arn"]} for s in others)


def test_the_transform_keeps_both_experiments_under_their_condition() -> None:
    found = experiments({"ChaosExperiments": "true"})
    assert set(found) == {"ChaosKinesisThrottleExperiment", "ChaosExpiredIteratorExperiment"}
    assert all(r["Condition"] == "CreateChaosExperiments" for r in found.values())


def _getatts(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            return [value]
        return [g for v in value.values() for g in _getatts(v)]
    if isinstance(value, list):
        return [g for v in value for g in _getatts(v)]
    return []


def resolved(action_id: str, percentage: str = "25", duration: str = "PT5M") -> dict[str, Any]:
    return {
        "Targets": {
            "Stream": {"ResourceType": "aws:kinesis:stream", "ResourceArns": [STREAM_ARN], "SelectionMode": "ALL"}
        },
        "Actions": {
            "a": {
                "ActionId": action_id,
                "Parameters": {"duration": duration, "percentage": percentage},
                "Targets": {"KinesisStreams": "Stream"},
            }
        },
    }


def test_an_experiment_becomes_its_faults_at_its_percentage_for_its_duration() -> None:
    faults = experiment_faults(resolved("aws:kinesis:stream-expired-iterator-exception", "40", "PT1M30S"))
    assert faults == [
        {
            "service": "kinesis",
            "operation": "GetRecords",
            "error": "ExpiredIteratorException",
            "status": 400,
            "probability": 0.4,
            "duration_s": 90,
            "message": "aws:kinesis:stream-expired-iterator-exception (a)",
        }
    ]


@pytest.mark.parametrize(
    ("props", "message"),
    [
        (resolved("aws:lambda:invocation-error"), "no local counterpart"),
        (resolved("aws:kinesis:stream-expired-iterator-exception", percentage="0"), "percentage"),
        (resolved("aws:kinesis:stream-expired-iterator-exception", duration="PT30S"), "one minute"),
        (resolved("aws:kinesis:stream-expired-iterator-exception", duration="PT13H"), "12 hours"),
        (resolved("aws:kinesis:stream-expired-iterator-exception", duration="5m"), "ISO 8601"),
        ({**resolved("aws:kinesis:stream-expired-iterator-exception"), "Targets": {}}, "needs a aws:kinesis:stream"),
        ({"Targets": {}, "Actions": {}}, "has none"),
    ],
)
def test_an_experiment_that_cannot_run_locally_is_refused_naming_why(props: dict[str, Any], message: str) -> None:
    with pytest.raises(ExperimentError, match=message):
        experiment_faults(props)


def test_durations_read_as_fis_reads_them() -> None:
    assert duration_seconds("PT1M") == 60
    assert duration_seconds("PT1H30M") == 5400
    assert duration_seconds("PT12H") == 43200


@pytest.mark.parametrize(
    ("profile", "experiment"),
    [
        ("kinesis-throttle.json", "ChaosKinesisThrottleExperiment"),
        ("expired-iterator.json", "ChaosExpiredIteratorExperiment"),
    ],
)
def test_each_experiments_profile_is_the_experiment_with_the_templates_defaults(profile: str, experiment: str) -> None:
    source = load_template()
    defaults = {k: str(v["Default"]) for k, v in source["Parameters"].items()}
    props = source["Resources"][experiment]["Properties"]
    as_deployed = {
        "Targets": {"Stream": {**props["Targets"]["Stream"], "ResourceArns": [STREAM_ARN]}},
        "Actions": {
            name: {
                **action,
                "Parameters": {"duration": defaults["ChaosDuration"], "percentage": defaults["ChaosPercentage"]},
            }
            for name, action in props["Actions"].items()
        },
    }
    expected = [{k: v for k, v in f.items() if k != "message"} for f in experiment_faults(as_deployed)]
    loaded = load_profile(str(ROOT / "local" / "fault-profiles" / profile))
    assert loaded == expected
