"""Deploy-time defects that cfn-lint, checkov and `sam validate` do not see (tools/deploy_checks.py).

Each check passes on template.yaml and fails on a copy with its defect put back, so a check that
cannot fail is itself a failure here.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.stack import translated
from tools import deploy_checks
from tools.preflight import check, samconfig_overrides
from tools.template import load_template, parameter_values, translate


def source() -> dict[str, Any]:
    return copy.deepcopy(load_template())


def test_the_template_has_no_finding() -> None:
    assert deploy_checks.template_findings(load_template(), translated()) == []
    sqs = translated((("FailureDestinationType", "SQS"),))
    assert deploy_checks.template_findings(load_template(), sqs) == []


# --- 1. alarms must be able to notify ------------------------------------------------------------


def test_an_alarm_topic_on_the_aws_managed_sns_key_is_found() -> None:
    template = copy.deepcopy(translated())
    template["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"
    [finding] = deploy_checks.alarm_topics_usable_by_cloudwatch(template)
    assert "AlarmTopic" in finding
    assert "alias/aws/sns" in finding


def test_an_alarm_topic_key_that_cloudwatch_may_not_use_is_found() -> None:
    template = copy.deepcopy(translated())
    statements = template["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    statements[:] = [s for s in statements if "Service" not in s["Principal"]]
    findings = deploy_checks.alarm_topics_usable_by_cloudwatch(template)
    assert any("cloudwatch.amazonaws.com kms:Decrypt" in f for f in findings)
    assert any("cloudwatch.amazonaws.com kms:GenerateDataKey" in f for f in findings)


def test_an_alarm_topic_key_without_the_account_as_administrator_is_found() -> None:
    template = copy.deepcopy(translated())
    statements = template["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    statements[:] = [s for s in statements if "AWS" not in s["Principal"]]
    [finding] = deploy_checks.alarm_topics_usable_by_cloudwatch(template)
    assert ":root" in finding


def test_the_alarm_topic_key_rotates_and_every_alarm_notifies_the_topic() -> None:
    resources = translated()["Resources"]
    assert resources["AlarmTopicKey"]["Properties"]["EnableKeyRotation"] is True
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert alarms
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)


# --- 2. lifecycle expiration after every transition ---------------------------------------------


def test_every_accepted_expiration_is_later_than_the_transition() -> None:
    accepted = deploy_checks.accepted_values(load_template(), "FailureObjectExpirationDays")
    assert accepted[:2] == ["0", "31"]
    assert "30" not in accepted
    assert "1" not in accepted
    assert "99999" in accepted
    assert deploy_checks.lifecycle_expirations_follow_transitions(load_template()) == []


def test_an_expiration_parameter_that_accepts_30_days_is_found() -> None:
    template = source()
    template["Parameters"]["FailureObjectExpirationDays"] = {"Type": "Number", "Default": 0, "MinValue": 0}
    [finding] = deploy_checks.lifecycle_expirations_follow_transitions(template)
    assert "FailureBucket" in finding
    assert "not later than its transition at 30 days" in finding


# --- 3. no reservation by default, and 0 never accepted -----------------------------------------


def test_no_function_reserves_concurrency_by_default() -> None:
    resources = translated()["Resources"]
    defaults = parameter_values(load_template())
    for name in ("IngestFunction", "ProcessFunction", "RedriveFunction"):
        reserved = resources[name]["Properties"]["ReservedConcurrentExecutions"]
        _, when_on, when_off = reserved["Fn::If"]
        assert when_off == {"Ref": "AWS::NoValue"}, name
        assert defaults[when_on["Ref"]] == "none", name
    assert deploy_checks.reservations_are_optional(load_template()) == []


@pytest.mark.parametrize("function", ["ProcessFunction", "RedriveFunction"])
def test_a_fixed_reservation_is_found(function: str) -> None:
    template = source()
    template["Resources"][function]["Properties"]["ReservedConcurrentExecutions"] = 1
    [finding] = deploy_checks.reservations_are_optional(template)
    assert finding.startswith(f"{function}: reserves concurrency by default")


def test_a_reservation_parameter_that_accepts_0_is_found() -> None:
    template = source()
    template["Parameters"]["IngestReservedConcurrency"] = {"Type": "Number", "Default": 0, "MinValue": 0}
    template["Conditions"]["HasIngestReservedConcurrency"] = {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "IngestReservedConcurrency"}, 0]}]
    }
    [finding] = deploy_checks.reservations_are_optional(template)
    assert "IngestReservedConcurrency accepts 0" in finding


# --- 4. a reservation covers the mapping; every samconfig environment is checked ----------------


@pytest.mark.parametrize("environment", sorted(samconfig_overrides()))
def test_every_samconfig_environment_passes_preflight(environment: str) -> None:
    assert check(samconfig_overrides()[environment]) == []


def test_prod_with_its_old_reservation_of_4_for_8_batches_is_refused() -> None:
    prod = samconfig_overrides()["prod"] | {"ProcessReservedConcurrency": "4"}
    [problem] = check(prod)
    assert "reserves 4 concurrent executions" in problem
    assert "4 shards x ParallelizationFactor 2 = 8" in problem


def test_a_reservation_too_small_is_found_also_when_the_consumer_reads_through_enhanced_fan_out() -> None:
    prod = samconfig_overrides()["prod"] | {"ProcessReservedConcurrency": "4", "ProcessReadMode": "enhanced-fan-out"}
    [problem] = check(prod)
    assert "4 shards x ParallelizationFactor 2 = 8" in problem


def test_a_samconfig_environment_is_read_as_sam_deploy_reads_it(tmp_path: Path) -> None:
    config = tmp_path / "samconfig.toml"
    config.write_text(
        'version = 0.1\n[big.deploy.parameters]\nparameter_overrides = "ShardCount=8 ProcessReservedConcurrency=10"\n'
        '[listed.deploy.parameters]\nparameter_overrides = ["ShardCount=1", "ParallelizationFactor=3"]\n'
    )
    environments = samconfig_overrides(config)
    assert environments == {
        "big": {"ShardCount": "8", "ProcessReservedConcurrency": "10"},
        "listed": {"ShardCount": "1", "ParallelizationFactor": "3"},
    }
    [problem] = check(environments["big"])
    assert "8 shards x ParallelizationFactor 2 = 16" in problem
    assert check(environments["listed"]) == []


def test_a_reservation_on_an_on_demand_stream_is_refused_by_the_template_rule() -> None:
    problems = check({"StreamMode": "ON_DEMAND", "ProcessReservedConcurrency": "20"})
    assert any(p.startswith("rule ConsumerReservationNeedsProvisionedStream") for p in problems)
    assert check({"StreamMode": "ON_DEMAND"}) == []


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"ProcessReservedConcurrency": "0"}, "ProcessReservedConcurrency='0'"),
        ({"RedriveReservedConcurrency": "-1"}, "RedriveReservedConcurrency='-1'"),
        ({"FailureObjectExpirationDays": "7"}, "FailureObjectExpirationDays='7'"),
        ({"ShardCount": "0"}, "ShardCount='0'"),
        ({"ShardCount": "many"}, "not a number"),
    ],
)
def test_values_cloudformation_refuses_are_refused_by_name(overrides: dict[str, str], named: str) -> None:
    [problem] = check(overrides)
    assert named in problem


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"ChaosExperiments": "true", "ChaosDuration": "PT30S"}, "one minute"),
        ({"ChaosExperiments": "true", "ChaosDuration": "PT13H"}, "12 hours"),
        ({"ChaosExperiments": "true", "ChaosDuration": "5m"}, "ChaosDuration='5m'"),
    ],
)
def test_a_chaos_duration_fis_refuses_is_found(overrides: dict[str, str], named: str) -> None:
    [problem] = check(overrides)
    assert named in problem


def test_provisioned_tables_whose_capacity_range_is_upside_down_are_refused() -> None:
    settings = {"TableBillingMode": "PROVISIONED", "ProvisionedWriteCapacityMin": "500"}
    assert check(settings) == []
    [problem] = check({**settings, "ProvisionedWriteCapacityMax": "100"})
    assert "ProvisionedWriteCapacityMin (500) is above ProvisionedWriteCapacityMax (100)" in problem
    assert check({"ProvisionedWriteCapacityMin": "500", "ProvisionedWriteCapacityMax": "100"}) == []  # on demand


def test_chaos_experiments_with_their_defaults_pass() -> None:
    assert check({"ChaosExperiments": "true"}) == []
    # the parameter's own pattern refuses what FIS would, experiments or not
    [problem] = check({"ChaosDuration": "PT13H"})
    assert "ChaosDuration='PT13H'" in problem


def test_a_sufficient_reservation_passes() -> None:
    assert check({"ShardCount": "3", "ParallelizationFactor": "2", "ProcessReservedConcurrency": "6"}) == []


# --- 5. a failed delivery to the on-failure destination raises an alarm -------------------------


@pytest.mark.parametrize("destination", ["S3", "SQS"])
def test_destination_delivery_failures_raise_an_alarm(destination: str) -> None:
    template = translated((("FailureDestinationType", destination),))
    alarm = template["Resources"]["FailureDeliveryFailuresAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/Lambda",
        "DestinationDeliveryFailures",
        "Sum",
    )
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ProcessFunction"}}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert "DestinationDeliveryFailures" in str(template["Resources"]["Dashboard"]["Properties"]["DashboardBody"])


def test_a_mapping_without_the_delivery_alarm_is_found() -> None:
    template = copy.deepcopy(translated())
    del template["Resources"]["FailureDeliveryFailuresAlarm"]
    [finding] = deploy_checks.delivery_failures_are_watched(template)
    assert "ProcessFunction has no DestinationDeliveryFailures alarm" in finding


# --- 8. alarm names differ per variant ----------------------------------------------------------


def test_alarms_of_the_two_destination_variants_have_different_names() -> None:
    resources = load_template()["Resources"]
    names = {
        resources[alarm]["Properties"]["AlarmName"]["Fn::Sub"]
        for alarm in ("FailureQueueNotEmptyAlarm", "FailureObjectsArrivedAlarm")
    }
    assert len(names) == 2
    assert deploy_checks.alarm_names_are_unique(load_template()) == []


def test_two_alarms_with_one_name_are_found() -> None:
    template = source()
    resources = template["Resources"]
    resources["FailureQueueNotEmptyAlarm"]["Properties"]["AlarmName"] = resources["FailureObjectsArrivedAlarm"][
        "Properties"
    ]["AlarmName"]
    [finding] = deploy_checks.alarm_names_are_unique(template)
    assert "FailureObjectsArrivedAlarm" in finding
    assert "FailureQueueNotEmptyAlarm" in finding


def test_a_broken_template_fails_preflight_as_a_whole(tmp_path: Path) -> None:
    import yaml

    template = source()
    template["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"
    broken = tmp_path / "template.yaml"
    broken.write_text(yaml.safe_dump(template))
    problems = check({}, broken)
    assert any("alias/aws/sns" in p for p in problems)
    assert translate(template)  # it still translates: only the check sees the defect


# --- versioned buckets expire what they keep ------------------------------------------------------

CI_TEMPLATE = Path(__file__).resolve().parents[2] / "ci" / "github-deploy-role.yaml"


def test_versioned_buckets_expire_noncurrent_versions_and_delete_markers() -> None:
    assert deploy_checks.versioned_buckets_expire_what_they_keep(load_template()) == []
    assert deploy_checks.versioned_buckets_expire_what_they_keep(load_template(CI_TEMPLATE)) == []


def test_a_versioned_bucket_that_keeps_its_delete_markers_for_ever_is_found() -> None:
    template = source()
    for rule in template["Resources"]["LargeMessageBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]:
        rule.pop("ExpiredObjectDeleteMarker", None)
    assert deploy_checks.versioned_buckets_expire_what_they_keep(template) == [
        "LargeMessageBucket: versioned, and no lifecycle rule removes its expired delete markers"
    ]


def test_a_versioned_bucket_that_keeps_its_noncurrent_versions_for_ever_is_found() -> None:
    template = copy.deepcopy(load_template(CI_TEMPLATE))
    for rule in template["Resources"]["ArtifactBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]:
        rule.pop("NoncurrentVersionExpiration", None)
    assert deploy_checks.versioned_buckets_expire_what_they_keep(template) == [
        "ArtifactBucket: versioned, and no lifecycle rule expires its noncurrent versions"
    ]


def test_a_delete_marker_rule_that_also_expires_after_days_is_found() -> None:
    template = source()
    [first, _] = template["Resources"]["FailureBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    first["ExpiredObjectDeleteMarker"] = True
    [finding] = deploy_checks.versioned_buckets_expire_what_they_keep(template)
    assert "FailureBucket rule infrequent-access-and-cleanup" in finding
    assert "S3 refuses the rule" in finding


# --- chaos experiments: durations FIS takes, and a consumer FIS can reach --------------------------


def test_chaos_duration_accepts_only_one_minute_to_twelve_hours() -> None:
    assert deploy_checks.chaos_duration_accepts_only_what_fis_takes(load_template()) == []
    assert parameter_values(load_template())["ChaosDuration"] == "PT5M"


def test_a_chaos_duration_pattern_that_accepts_what_fis_refuses_is_found() -> None:
    template = source()
    template["Parameters"]["ChaosDuration"]["AllowedPattern"] = "^PT(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+S)?$"
    accepted = " ".join(deploy_checks.chaos_duration_accepts_only_what_fis_takes(template))
    for refused in ("'PT0M'", "'PT30S'", "'PT13H'", "'PT721M'"):
        assert f"ChaosDuration accepts {refused}" in accepted


def test_chaos_experiments_with_the_consumer_on_enhanced_fan_out_are_refused() -> None:
    assert deploy_checks.chaos_experiments_refuse_enhanced_fan_out(load_template()) == []
    values = parameter_values(load_template(), {"ChaosExperiments": "true", "ProcessReadMode": "enhanced-fan-out"})
    [failure] = deploy_checks.rule_failures(load_template(), values)
    assert "ChaosExperimentsNeedTheSharedReadMode" in failure
    assert "SubscribeToShard" in failure


def test_a_template_that_lets_chaos_experiments_miss_the_consumer_is_found() -> None:
    template = source()
    del template["Rules"]["ChaosExperimentsNeedTheSharedReadMode"]
    [finding] = deploy_checks.chaos_experiments_refuse_enhanced_fan_out(template)
    assert "would not reach the consumer" in finding


def test_a_latency_alarm_under_the_batching_window_is_refused() -> None:
    assert check({"MaximumBatchingWindowInSeconds": "5", "IngestToStoreLatencyAlarmMilliseconds": "7001"}) == []
    [problem] = check({"MaximumBatchingWindowInSeconds": "5", "IngestToStoreLatencyAlarmMilliseconds": "7000"})
    assert "IngestToStoreLatencyAlarmMilliseconds (7000)" in problem
    assert "batching window (5 s)" in problem
