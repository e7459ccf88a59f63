"""The CI's CloudFormation role (ci/github-deploy-role.yaml) may act on every service the template
creates resources in, under any of the template's settings: a resource type whose service the role
never names fails its first deploy in CI with AccessDenied, however right the template is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local.template import load_template, translate

ROOT = Path(__file__).resolve().parents[2]

# The IAM service prefix of each CloudFormation namespace the template uses.
PREFIXES = {
    "ApiGatewayV2": "apigateway",
    "ApplicationAutoScaling": "application-autoscaling",
    "CloudWatch": "cloudwatch",
    "DynamoDB": "dynamodb",
    "Events": "events",
    "FIS": "fis",
    "IAM": "iam",
    "KMS": "kms",
    "Kinesis": "kinesis",
    "Lambda": "lambda",
    "Logs": "logs",
    "S3": "s3",
    "SNS": "sns",
    "SQS": "sqs",
}

# Settings that each add resources of their own (the rest of the template is there by default).
SETTINGS = [
    {},
    {"TableBillingMode": "PROVISIONED"},
    {"ProcessReadMode": "enhanced-fan-out"},
    {"FailureDestinationType": "SQS"},
]


def cloudformation_role_prefixes() -> set[str]:
    role = load_template(ROOT / "ci" / "github-deploy-role.yaml")["Resources"]["CloudFormationRole"]
    prefixes: set[str] = set()
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            actions: Any = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                prefixes.add(action.split(":", 1)[0])
    return prefixes


@pytest.mark.parametrize("overrides", SETTINGS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_cloudformation_s_role_names_every_service_the_template_creates_resources_in(overrides: dict[str, str]) -> None:
    resources = translate(load_template(), overrides)["Resources"].values()
    namespaces = {r["Type"].split("::")[1] for r in resources if r["Type"].startswith("AWS::")}
    unknown = namespaces - PREFIXES.keys()
    assert not unknown, f"new resource namespaces: add their IAM prefix to PREFIXES and the role: {unknown}"
    missing = {PREFIXES[n] for n in namespaces} - cloudformation_role_prefixes()
    assert not missing, f"ci/github-deploy-role.yaml's CloudFormationRole grants nothing of {sorted(missing)}"
