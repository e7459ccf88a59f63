"""The CI's roles (ci/github-deploy-role.yaml) allow what a first deploy, the load test and a stack's
deletion call (tools/ci_role_checks.py): no finding on the file, and each grant taken out of a copy
is found, naming the call and its AWS page."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tools import ci_role_checks
from tools.ci_role_checks import NEEDS, Need
from tools.template import load_template, translate

ROOT = Path(__file__).resolve().parents[2]

# Settings that each add resources of their own (the rest of the template is there by default).
SETTINGS = [
    {},
    {"TableBillingMode": "PROVISIONED"},
    {"ProcessReadMode": "enhanced-fan-out"},
    {"FailureDestinationType": "SQS"},
]


def ci() -> dict[str, Any]:
    return copy.deepcopy(load_template(ROOT / "ci" / "github-deploy-role.yaml"))


def without(template: dict[str, Any], role: str, actions: set[str]) -> dict[str, Any]:
    """The template with ``actions`` taken out of every statement of ``role`` (a statement left with
    no action goes)."""
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        kept = []
        for statement in policy["PolicyDocument"]["Statement"]:
            listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            remaining = [a for a in listed if a.lower() not in {x.lower() for x in actions}]
            if remaining:
                kept.append({**statement, "Action": remaining})
        policy["PolicyDocument"]["Statement"] = kept
    return template


def test_the_roles_allow_every_call_listed() -> None:
    assert ci_role_checks.missing_permissions(ci()) == []


@pytest.mark.parametrize("need", NEEDS, ids=lambda n: n.actions[0])
def test_each_grant_taken_out_is_found(need: Need) -> None:
    [finding] = ci_role_checks.missing_permissions(without(ci(), need.role, {need.actions[0]}))
    assert finding.startswith(f"{need.role} may not {need.actions[0]}")
    assert need.why in finding


def test_an_action_granted_on_another_resource_does_not_count() -> None:
    template = ci()
    need = Need("GitHubDeployRole", ("kinesis:GetRecords",), "arn:aws:kinesis:us-east-1:111122223333:stream/other", "x")
    assert ci_role_checks.missing_permissions(template, [need]) == [
        "GitHubDeployRole may not kinesis:GetRecords on arn:aws:kinesis:us-east-1:111122223333:stream/other: x"
    ]


@pytest.mark.parametrize("overrides", SETTINGS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_cloudformation_s_role_names_every_service_the_template_creates_resources_in(overrides: dict[str, str]) -> None:
    assert ci_role_checks.services_not_granted(ci(), translate(load_template(), overrides)) == []


def test_a_service_the_role_never_names_is_found() -> None:
    autoscaling = {
        a
        for s in ci_role_checks.role_statements(ci(), "CloudFormationRole")
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        if a.startswith("application-autoscaling:")
    }
    template = without(ci(), "CloudFormationRole", autoscaling)
    findings = ci_role_checks.services_not_granted(
        template, translate(load_template(), {"TableBillingMode": "PROVISIONED"})
    )
    assert findings == [
        "AWS::ApplicationAutoScaling::ScalableTarget: CloudFormationRole grants nothing of application-autoscaling",
        "AWS::ApplicationAutoScaling::ScalingPolicy: CloudFormationRole grants nothing of application-autoscaling",
    ]
