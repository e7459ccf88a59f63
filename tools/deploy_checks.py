"""What makes `sam deploy` fail, or a deployed stack quietly worse, that cfn-lint and checkov do not see.

Each check reads a template (``source``: template.yaml as written; ``translated``: after the SAM
transform) and returns findings, one sentence each; no finding is a pass. tests/template/
test_deploy_checks.py runs every check on the real template and on a copy with its defect put back.
:func:`preflight` runs them for one set of parameter values, as CloudFormation would see it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from tools.fis import ExperimentError, duration_seconds
from tools.resolve import ResolveError, Scope, resolve

Template = Mapping[str, Any]

# Values tried against a parameter's constraints to learn which of them CloudFormation accepts.
_PROBE_VALUES = [str(n) for n in range(0, 1001)] + ["99999", "100000", "none", "-1", ""]


# --- parameters, as CloudFormation checks them ------------------------------------------------


def parameter_problems(template: Template, values: Mapping[str, Any]) -> list[str]:
    """Values CloudFormation would refuse: Number that is not a number, MinValue/MaxValue,
    AllowedValues, AllowedPattern (the whole value), MinLength/MaxLength."""
    problems = []
    for name, spec in template.get("Parameters", {}).items():
        if name in values:
            problem = _refusal(spec, str(values[name]))
            if problem:
                problems.append(f"{name}={values[name]!r}: {problem}")
    return problems


def _refusal(spec: Mapping[str, Any], value: str) -> str | None:
    why = spec.get("ConstraintDescription")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return "not a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return why or f"below MinValue {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return why or f"above MaxValue {spec['MaxValue']}"
    if "AllowedValues" in spec and value not in {str(v) for v in spec["AllowedValues"]}:
        return why or f"not one of {spec['AllowedValues']}"
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        return why or f"does not match {spec['AllowedPattern']}"
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        return why or f"shorter than {spec['MinLength']}"
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        return why or f"longer than {spec['MaxLength']}"
    return None


def accepted_values(template: Template, parameter: str) -> list[str]:
    """The probe values that ``parameter``'s constraints accept (0 to 1000, 99999, and a few words)."""
    spec = template["Parameters"][parameter]
    return [v for v in _PROBE_VALUES if _refusal(spec, v) is None]


def _scope(template: Template, values: Mapping[str, Any]) -> Scope:
    parameters = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::AccountId": "000000000000"}
    parameters |= {"AWS::StackName": "weir-check", **values}
    return Scope(parameters, conditions=template.get("Conditions", {}))


def rule_failures(template: Template, values: Mapping[str, Any]) -> list[str]:
    """The template's Rules as CloudFormation evaluates them: the AssertDescription of each failing one."""
    scope = _scope(template, values)
    failures = []
    for name, rule in template.get("Rules", {}).items():
        if "RuleCondition" in rule and not resolve(rule["RuleCondition"], scope):
            continue
        for assertion in rule["Assertions"]:
            if not resolve(assertion["Assert"], scope):
                failures.append(f"rule {name}: {assertion.get('AssertDescription', 'assertion failed')}")
    return failures


# --- checks on the template ---------------------------------------------------------------------


def _resources(template: Template, kind: str) -> dict[str, Any]:
    return {n: r for n, r in template.get("Resources", {}).items() if r.get("Type") == kind}


def _ref_name(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


def _source_stream(value: Any, resources: Mapping[str, Any], scope: Scope) -> str | None:
    """The stream a mapping reads: its source, the branch its condition picks (shared or enhanced
    fan-out), and through a stream consumer to its stream."""
    if isinstance(value, dict) and "Fn::If" in value:
        condition, when_true, when_false = value["Fn::If"]
        value = when_true if scope.condition(condition) else when_false
    name = _ref_name(value)
    resource = resources.get(name or "", {})
    if resource.get("Type") == "AWS::Kinesis::StreamConsumer":
        return _ref_name(resource.get("Properties", {}).get("StreamARN"))
    return name


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def alarm_topics_usable_by_cloudwatch(translated: Template) -> list[str]:
    """Every topic an alarm notifies is encrypted with a key in this template whose policy lets
    CloudWatch use it and keeps the account's administrators. CloudWatch cannot use an AWS managed
    key (alias/aws/sns): the alarm's action then fails and nobody is told (SNS developer guide,
    "Key management", compatibility with AWS services)."""
    resources = translated.get("Resources", {})
    topics = {
        name
        for alarm in _resources(translated, "AWS::CloudWatch::Alarm").values()
        for key in ("AlarmActions", "OKActions", "InsufficientDataActions")
        for action in alarm["Properties"].get(key, [])
        if (name := _ref_name(action)) and resources.get(name, {}).get("Type") == "AWS::SNS::Topic"
    }
    findings = []
    for topic in sorted(topics):
        key = resources[topic]["Properties"].get("KmsMasterKeyId")
        key_name = _ref_name(key)
        if key is None:
            findings.append(f"{topic}: alarms notify an unencrypted topic")
        elif key_name is None or resources.get(key_name, {}).get("Type") != "AWS::KMS::Key":
            findings.append(
                f"{topic}: encrypted with {json.dumps(key)}, not a key of this template; CloudWatch alarms "
                "cannot use an AWS managed key such as alias/aws/sns"
            )
        else:
            findings.extend(f"{key_name}: {p}" for p in _key_policy_problems(resources[key_name]))
    return findings


def _key_policy_problems(key: Mapping[str, Any]) -> list[str]:
    statements = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Effect") == "Allow"]

    def allowed(principal_key: str, match: str) -> set[str]:
        actions: set[str] = set()
        for statement in statements:
            principals = _listed(statement.get("Principal", {}).get(principal_key, []))
            if any(match in json.dumps(p) for p in principals):
                actions.update(_listed(statement["Action"]))
        return actions

    problems = []
    cloudwatch = allowed("Service", "cloudwatch.amazonaws.com")
    for needed in ("kms:Decrypt", "kms:GenerateDataKey"):
        if not any(a == needed or a == "kms:*" or (a.endswith("*") and needed.startswith(a[:-1])) for a in cloudwatch):
            problems.append(f"the key policy does not allow cloudwatch.amazonaws.com {needed}")
    if "kms:*" not in allowed("AWS", ":root"):
        problems.append("the key policy does not keep the account (its :root principal) as administrator")
    return problems


def lifecycle_expirations_follow_transitions(source: Template) -> list[str]:
    """For every value the parameters accept, each S3 lifecycle rule expires objects later than
    every transition of that rule; S3 refuses the rule otherwise, and the deploy fails."""
    findings = []
    for bucket, resource in _resources(source, "AWS::S3::Bucket").items():
        for rule in resource.get("Properties", {}).get("LifecycleConfiguration", {}).get("Rules", []):
            for values in _parameter_variants(source, rule):
                scope = _scope(source, values)
                resolved = resolve(rule, scope)
                expiration = resolved.get("ExpirationInDays")
                transitions = [int(t["TransitionInDays"]) for t in resolved.get("Transitions", [])]
                if expiration is not None and transitions and int(expiration) <= max(transitions):
                    findings.append(
                        f"{bucket} rule {rule.get('Id')}: with {values} it expires objects after {expiration} days, "
                        f"not later than its transition at {max(transitions)} days (S3 refuses the rule)"
                    )
                    break
    return findings


def versioned_buckets_expire_what_they_keep(source: Template) -> list[str]:
    """A versioned bucket keeps every overwritten or deleted object as a noncurrent version, and every
    delete as a delete marker, for ever unless a lifecycle rule expires them (S3 user guide,
    "Lifecycle configuration elements"); any left also fails the stack's deletion. Each needs a rule
    with NoncurrentVersionExpiration and one with ExpiredObjectDeleteMarker, which S3 refuses in a
    rule that also expires objects after days or on a date."""
    findings = []
    for bucket, resource in _resources(source, "AWS::S3::Bucket").items():
        properties = resource.get("Properties", {})
        if properties.get("VersioningConfiguration", {}).get("Status") != "Enabled":
            continue
        rules = [
            r for r in properties.get("LifecycleConfiguration", {}).get("Rules", []) if r.get("Status") == "Enabled"
        ]
        if not any("NoncurrentVersionExpiration" in r or "NoncurrentVersionExpirationInDays" in r for r in rules):
            findings.append(f"{bucket}: versioned, and no lifecycle rule expires its noncurrent versions")
        markers = [r for r in rules if r.get("ExpiredObjectDeleteMarker") is True]
        if not markers:
            findings.append(f"{bucket}: versioned, and no lifecycle rule removes its expired delete markers")
        for rule in markers:
            if "ExpirationInDays" in rule or "ExpirationDate" in rule:
                findings.append(
                    f"{bucket} rule {rule.get('Id')}: ExpiredObjectDeleteMarker with an expiration of days or a "
                    "date (S3 refuses the rule)"
                )
    return findings


CHAOS_DURATION_PROBES = (
    [f"PT{n}M" for n in range(0, 801)]
    + [f"PT{n}H" for n in range(0, 15)]
    + ["PT30S", "PT59S", "PT60S", "PT0S", "PT1H30M", "PT12H1M", "PT1M1S", "PT5m", "P1D", "PT"]
)


def chaos_duration_accepts_only_what_fis_takes(source: Template) -> list[str]:
    """Every value ChaosDuration's pattern lets through is a duration FIS takes (one minute to 12
    hours): a value it refuses fails the deploy half-way, at the experiment template."""
    spec = source.get("Parameters", {}).get("ChaosDuration")
    if spec is None:
        return []
    findings = []
    for value in CHAOS_DURATION_PROBES:
        if _refusal(spec, value) is not None:
            continue
        try:
            duration_seconds(value)
        except ExperimentError as exc:
            findings.append(f"ChaosDuration accepts {value!r}, which FIS refuses ({exc})")
    return findings


def chaos_experiments_refuse_enhanced_fan_out(source: Template) -> list[str]:
    """FIS's Kinesis actions inject into PutRecord, PutRecords and GetRecords only
    (FIS user guide, "Amazon Kinesis Data Streams actions"); a consumer on enhanced fan-out reads with
    SubscribeToShard, so its experiments would pass without touching it. The template's Rules must
    refuse the combination."""
    if "ChaosExperiments" not in source.get("Parameters", {}) or "ProcessReadMode" not in source.get("Parameters", {}):
        return []
    defaults = {n: str(p["Default"]) for n, p in source["Parameters"].items() if "Default" in p}
    values = defaults | {"ChaosExperiments": "true", "ProcessReadMode": "enhanced-fan-out"}
    if rule_failures(source, values):
        return []
    return [
        "ChaosExperiments=true with ProcessReadMode=enhanced-fan-out deploys: "
        "its experiments would not reach the consumer"
    ]


def _parameter_variants(template: Template, fragment: Any) -> Iterator[dict[str, str]]:
    """Parameter values to try for ``fragment``: the defaults, and each value the constraints of a
    parameter it refers to (directly or through a condition) accept."""
    defaults = {n: str(s["Default"]) for n, s in template.get("Parameters", {}).items() if "Default" in s}
    yield defaults
    for name in sorted(_parameters_used(template, fragment)):
        for value in accepted_values(template, name):
            yield defaults | {name: value}


def _parameters_used(template: Template, fragment: Any) -> set[str]:
    declared = set(template.get("Parameters", {}))
    conditions = template.get("Conditions", {})
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, arg in value.items():
                if key == "Ref" and arg in declared:
                    found.add(arg)
                elif key == "Fn::If":
                    walk(conditions.get(arg[0]))
                    walk(arg[1:])
                elif key == "Condition" and isinstance(arg, str):
                    walk(conditions.get(arg))
                else:
                    walk(arg)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(fragment)
    return found


def reservations_are_optional(source: Template) -> list[str]:
    """No function reserves concurrency by default, and no reservation parameter accepts 0.
    Lambda keeps 100 executions unreserved and a new account's quota is below that, so any
    reservation fails the first deploy ("decreases account's UnreservedConcurrentExecution below
    its minimum value"); a reservation of 0 stops the function."""
    defaults = {n: str(s["Default"]) for n, s in source.get("Parameters", {}).items() if "Default" in s}
    scope = _scope(source, defaults)
    findings = []
    for name, function in _resources(source, "AWS::Serverless::Function").items():
        reserved = function.get("Properties", {}).get("ReservedConcurrentExecutions")
        if reserved is None:
            continue
        if resolve({"value": reserved}, scope).get("value") is not None:
            findings.append(f"{name}: reserves concurrency by default ({json.dumps(reserved)})")
        for parameter in sorted(_parameters_used(source, reserved)):
            if "0" in accepted_values(source, parameter):
                findings.append(f"{name}: {parameter} accepts 0, which throttles the function completely")
    return findings


def consumer_reservation_covers_mapping(translated: Template, values: Mapping[str, Any]) -> list[str]:
    """With these parameter values, a function that reserves concurrency reserves at least what its
    Kinesis mappings run at once (open shards x ParallelizationFactor); fewer and batches wait until
    their records age out to the failure destination. A Rule cannot multiply: this is preflight's."""
    scope = _scope(translated, values)
    resources = translated.get("Resources", {})
    findings = []
    for name, mapping in _resources(translated, "AWS::Lambda::EventSourceMapping").items():
        props = mapping["Properties"]
        stream_name = _source_stream(props.get("EventSourceArn"), resources, scope)
        function_name = _ref_name(props.get("FunctionName"))
        stream = resources.get(stream_name or "", {})
        function = resources.get(function_name or "", {})
        if stream.get("Type") != "AWS::Kinesis::Stream" or "ReservedConcurrentExecutions" not in function.get(
            "Properties", {}
        ):
            continue
        try:
            reserved = resolve({"v": function["Properties"]["ReservedConcurrentExecutions"]}, scope).get("v")
            stream_props = resolve(stream["Properties"], scope)
            factor = int(resolve(props.get("ParallelizationFactor", 1), scope))
        except ResolveError as exc:
            findings.append(f"{name}: cannot evaluate ({exc})")
            continue
        if reserved is None:
            continue
        mode = stream_props.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
        if mode != "PROVISIONED":
            findings.append(
                f"{function_name} reserves {reserved} but {stream_name} is {mode}: its shard count changes by itself"
            )
            continue
        needed = int(stream_props["ShardCount"]) * factor
        if int(reserved) < needed:
            findings.append(
                f"{function_name} reserves {reserved} concurrent executions; its mapping {name} runs "
                f"{stream_props['ShardCount']} shards x ParallelizationFactor {factor} = {needed} batches at once"
            )
    return findings


def delivery_failures_are_watched(translated: Template) -> list[str]:
    """Every mapping with an on-failure destination has an alarm on its function's
    AWS/Lambda DestinationDeliveryFailures: a failed delivery is otherwise silent."""
    watched = {
        _ref_name(d["Value"])
        for alarm in _resources(translated, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "DestinationDeliveryFailures"
        and alarm["Properties"].get("Namespace") == "AWS/Lambda"
        and alarm["Properties"].get("AlarmActions")
        for d in alarm["Properties"].get("Dimensions", [])
        if d["Name"] == "FunctionName"
    }
    return [
        f"{name}: its function {_ref_name(m['Properties']['FunctionName'])} has no DestinationDeliveryFailures alarm"
        for name, m in _resources(translated, "AWS::Lambda::EventSourceMapping").items()
        if m["Properties"].get("DestinationConfig", {}).get("OnFailure")
        and _ref_name(m["Properties"]["FunctionName"]) not in watched
    ]


def alarm_names_are_unique(source: Template) -> list[str]:
    """No two alarms share an AlarmName, whatever their conditions: switching a condition replaces
    one by the other, and CloudFormation creates the new alarm before it deletes the old one."""
    seen: dict[str, str] = {}
    findings = []
    for name, alarm in _resources(source, "AWS::CloudWatch::Alarm").items():
        alarm_name = json.dumps(alarm.get("Properties", {}).get("AlarmName"), sort_keys=True)
        if alarm_name == "null":
            continue
        if alarm_name in seen:
            findings.append(f"{name} and {seen[alarm_name]} are both named {alarm_name}")
        seen[alarm_name] = name
    return findings


SDK_PACKAGES = ("boto3", "botocore", "s3transfer")


def pinned(requirements: str) -> dict[str, str]:
    """``name==version`` lines of a requirements or lock file, names lower-cased, extras dropped."""
    found = {}
    for line in requirements.splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)", line.strip())
        if match:
            found[match.group(1).split("[")[0].lower()] = match.group(2)
    return found


def layer_sdk_pin_problems(layer_requirements: str, lock: str) -> list[str]:
    """The layer pins boto3, botocore and s3transfer, each to the version the tests run with: an
    unpinned botocore (pulled in by aws-xray-sdk) would sit ahead of the runtime's boto3 on the
    import path, a pair nobody built or tested (docs/decisions/0003-dependencies.md)."""
    layer, locked = pinned(layer_requirements), pinned(lock)
    problems = []
    for package in SDK_PACKAGES:
        if package not in layer:
            problems.append(f"the layer does not pin {package}")
        elif layer[package] != locked.get(package):
            problems.append(f"the layer pins {package}=={layer[package]}, the tests run {locked.get(package)}")
    return problems


def template_findings(source: Template, translated: Template) -> list[str]:
    """Every check that does not depend on the parameter values."""
    return [
        *alarm_topics_usable_by_cloudwatch(translated),
        *lifecycle_expirations_follow_transitions(source),
        *reservations_are_optional(source),
        *delivery_failures_are_watched(translated),
        *alarm_names_are_unique(source),
        *versioned_buckets_expire_what_they_keep(source),
        *chaos_duration_accepts_only_what_fis_takes(source),
        *chaos_experiments_refuse_enhanced_fan_out(source),
    ]


def preflight(source: Template, translated: Template, values: Mapping[str, Any]) -> list[str]:
    """What CloudFormation would refuse for these parameter values, or what would deploy and then
    throttle the consumer: parameter constraints, Rules, and the reservation against the mapping."""
    problems = parameter_problems(source, values)
    if problems:
        return problems
    return [
        *rule_failures(source, values),
        *consumer_reservation_covers_mapping(translated, values),
        *chaos_duration_in_fis_range(values),
        *provisioned_range_is_a_range(values),
        *latency_alarm_above_the_batching_window(values),
    ]


def latency_alarm_above_the_batching_window(values: Mapping[str, Any]) -> list[str]:
    """An event waits up to the batching window and Lambda's poll of its shard (about a second) before
    the consumer even sees it: a p99 threshold at or under that plus a second of work pages on every
    quiet minute, and the alarm that always rings is the one nobody reads."""
    window = float(values.get("MaximumBatchingWindowInSeconds", 1))
    threshold = float(values.get("IngestToStoreLatencyAlarmMilliseconds", 10000))
    floor = (window + 2) * 1000
    if threshold <= floor:
        return [
            f"IngestToStoreLatencyAlarmMilliseconds ({threshold:.0f}) is at or under the batching window "
            f"({window:g} s) plus 2 s ({floor:.0f} ms): the latency alarm would ring on every quiet minute"
        ]
    return []


def provisioned_range_is_a_range(values: Mapping[str, Any]) -> list[str]:
    """Application Auto Scaling refuses a scalable target whose MinCapacity is above its MaxCapacity
    (RegisterScalableTarget), half-way through the deploy."""
    if str(values.get("TableBillingMode", "PAY_PER_REQUEST")) != "PROVISIONED":
        return []
    low, high = int(values.get("ProvisionedWriteCapacityMin", 5)), int(values.get("ProvisionedWriteCapacityMax", 4000))
    if low > high:
        return [f"ProvisionedWriteCapacityMin ({low}) is above ProvisionedWriteCapacityMax ({high})"]
    return []


def chaos_duration_in_fis_range(values: Mapping[str, Any]) -> list[str]:
    """FIS refuses an action duration outside one minute to 12 hours, when the experiment template is
    created: the stack would fail half-way through its deploy."""
    if str(values.get("ChaosExperiments", "false")) != "true":
        return []
    try:
        duration_seconds(str(values.get("ChaosDuration", "PT5M")))
    except ExperimentError as exc:
        return [f"ChaosDuration: {exc}"]
    return []
