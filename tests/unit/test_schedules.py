"""The local runtime's schedules: EventBridge's rate expressions, and which rules run."""

from __future__ import annotations

import pytest

from local.events.schedules import Scheduler, period_seconds


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(2 days)", 172800)],
)
def test_rate_expressions_give_their_period(expression: str, seconds: float) -> None:
    assert period_seconds(expression) == seconds


@pytest.mark.parametrize("expression", ["rate(1 minutes)", "rate(5 minute)", "rate(0.5 hours)", "every minute"])
def test_expressions_eventbridge_refuses_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="EventBridge"):
        period_seconds(expression)


def test_only_enabled_rate_rules_aimed_at_the_stack_s_functions_are_run() -> None:
    pool = object()
    rules = [
        {"LogicalId": "On", "ScheduleExpression": "rate(1 minute)", "Targets": [{"Arn": "f", "Input": "{}"}]},
        {"LogicalId": "Off", "ScheduleExpression": "rate(1 minute)", "State": "DISABLED", "Targets": [{"Arn": "f"}]},
        {"LogicalId": "Cron", "ScheduleExpression": "cron(0 * * * ? *)", "Targets": [{"Arn": "f"}]},
        {"LogicalId": "Elsewhere", "ScheduleExpression": "rate(1 hour)", "Targets": [{"Arn": "other"}]},
    ]
    scheduler = Scheduler(rules, {"f": pool})  # type: ignore[dict-item]
    assert [(s.rule, s.period, s.event) for s in scheduler.schedules] == [("On", 60.0, {})]
    assert set(scheduler.not_run) == {"Cron", "Elsewhere"}
