"""What the CI's roles (ci/github-deploy-role.yaml) must allow, so that a fork's first deploy, its load
test and its stack's deletion do not stop on AccessDenied however right the template is.

Each :data:`NEEDS` entry is a call AWS makes with one of the roles — CloudFormation with
``CloudFormationRole`` while it creates, tags and deletes the stack's resources, the workflow with
``GitHubDeployRole`` — on a resource named as the stacks are (``<StackPrefix>-...``), with the AWS page
that says the call is made. :func:`missing_permissions` evaluates the roles' statements as IAM does for
an allow (action and resource wildcards; the roles have no deny), so a statement that names the
action on the wrong resource does not count. :func:`services_not_granted` finds a service the
template creates resources in that the CloudFormation role never names. tests/template/
test_ci_role_checks.py runs both on the file and on copies with each grant taken out.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Template = Mapping[str, Any]

# The values an ARN in the roles is read with: an account, a region, the default prefix.
ACCOUNT, REGION, PREFIX = "111122223333", "us-east-1", "weir"
STACK = f"{PREFIX}-pr-7"  # a pull request's stack, as the workflows name them


@dataclass(frozen=True)
class Need:
    role: str
    actions: tuple[str, ...]
    resource: str
    why: str


def _arn(service: str, rest: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:{service}:{region}:{account}:{rest}"


NEEDS: tuple[Need, ...] = (
    Need(
        "CloudFormationRole",
        (
            "logs:CreateLogDelivery",
            "logs:PutResourcePolicy",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:GetLogDelivery",
            "logs:ListLogDeliveries",
            "logs:DescribeResourcePolicies",
        ),
        "*",
        "the HTTP API's access logs: API Gateway developer guide, 'Configure logging for HTTP APIs' (on \"*\")",
    ),
    Need(
        "CloudFormationRole",
        ("logs:DescribeLogGroups",),
        _arn("logs", "log-group:*"),
        "the same page: DescribeLogGroups is authorised on the log-group:* ARN, not on one group",
    ),
    Need(
        "CloudFormationRole",
        ("lambda:TagResource", "lambda:ListTags"),
        _arn("lambda", "event-source-mapping:3f0c6a52-7e8b-4d39-9a1c-5b2d8e4f6a10"),
        "CloudFormation tags an event source mapping as it creates it: Lambda developer guide, 'Using tags on "
        "event source mappings' (lambda:TagResource 'to perform a tag on create')",
    ),
    Need(
        "CloudFormationRole",
        ("iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:DetachRolePolicy"),
        f"arn:aws:iam::{ACCOUNT}:role/{STACK}-ProcessRole-1A2B3C4D5E6F",
        "deleting a role lists and detaches its policies first (IAM user guide, 'Delete roles or instance "
        "profiles'); without them the stack's deletion ends DELETE_FAILED",
    ),
    Need(
        "GitHubDeployRole",
        ("kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"),
        _arn("kinesis", f"stream/{STACK}-events"),
        "the load test reads the stream back for the events it has not found (tools/readback.py)",
    ),
)

# The IAM service prefix of each CloudFormation resource namespace a template may use.
SERVICE_PREFIXES = {
    "ApiGatewayV2": "apigateway",
    "ApplicationAutoScaling": "application-autoscaling",
    "Budgets": "budgets",
    "CloudWatch": "cloudwatch",
    "DynamoDB": "dynamodb",
    "Events": "events",
    "FIS": "fis",
    "IAM": "iam",
    "KMS": "kms",
    "Kinesis": "kinesis",
    "KinesisFirehose": "firehose",
    "Lambda": "lambda",
    "Logs": "logs",
    "S3": "s3",
    "SNS": "sns",
    "SQS": "sqs",
}

_SUB = re.compile(r"\$\{([^}]+)\}")
_PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "StackPrefix": PREFIX}


def _text(value: Any) -> list[str]:
    """The strings a resource or action value stands for (``Fn::If``: either branch)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _text(item)]
    if isinstance(value, dict) and len(value) == 1:
        [(name, argument)] = value.items()
        if name == "Fn::Sub":
            pattern = argument if isinstance(argument, str) else argument[0]
            return [_SUB.sub(lambda m: _PSEUDO.get(m.group(1), f"<{m.group(1)}>"), pattern)]
        if name == "Fn::If":
            return [text for branch in argument[1:] for text in _text(branch)]
        if name == "Fn::GetAtt":
            return [f"<{'.'.join(argument) if isinstance(argument, list) else argument}>"]
        if name == "Ref":
            return [_PSEUDO.get(argument, f"<{argument}>")]
    return []


def role_statements(template: Template, role: str) -> list[dict[str, Any]]:
    statements = []
    for policy in template["Resources"][role]["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            statements.append(statement)
    return statements


def allows(statements: Iterable[Mapping[str, Any]], action: str, resource: str) -> bool:
    """Whether an Allow statement names ``action`` on ``resource`` (IAM's wildcards: ``*``, ``?``;
    actions case-insensitive, resources not)."""
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = _text(statement.get("Action"))
        resources = _text(statement.get("Resource"))
        if any(fnmatch.fnmatch(action.lower(), a.lower()) for a in actions) and any(
            fnmatch.fnmatchcase(resource, r) for r in resources
        ):
            return True
    return False


def missing_permissions(ci: Template, needs: Iterable[Need] = NEEDS) -> list[str]:
    findings = []
    for need in needs:
        statements = role_statements(ci, need.role)
        missing = [a for a in need.actions if not allows(statements, a, need.resource)]
        if missing:
            findings.append(f"{need.role} may not {', '.join(missing)} on {need.resource}: {need.why}")
    return findings


def services_not_granted(ci: Template, translated: Template) -> list[str]:
    """Each service the (translated) template creates resources in that CloudFormationRole never names."""
    granted = {
        a.split(":", 1)[0].lower() for s in role_statements(ci, "CloudFormationRole") for a in _text(s["Action"])
    }
    findings = []
    types = sorted({r["Type"] for r in translated["Resources"].values() if r["Type"].startswith("AWS::")})
    for kind in types:
        namespace = kind.split("::")[1]
        prefix = SERVICE_PREFIXES.get(namespace)
        if prefix is None:
            findings.append(f"{kind}: a namespace tools/ci_role_checks.py does not know; add its IAM prefix")
        elif prefix not in granted:
            findings.append(f"{kind}: CloudFormationRole grants nothing of {prefix}")
    return findings
