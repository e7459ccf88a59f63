"""AWS FIS experiments as local faults.

The stack's experiment templates (``AWS::FIS::ExperimentTemplate``, created when ``ChaosExperiments``
is ``true``) run in AWS with ``aws fis start-experiment``. Locally, :func:`experiment_faults` turns
the same template into the faults of :mod:`local.faults` that reproduce each action, so one
experiment definition serves both (``make chaos EXPERIMENT=...``).

Only actions in :data:`ACTIONS` translate; each is taken from the FIS actions reference
(https://docs.aws.amazon.com/fis/latest/userguide/fis-actions-reference.html, "Amazon Kinesis Data
Streams actions") and the Kinesis Data Streams developer guide's "Perform resilience testing with
Amazon FIS" pages, which list the operations and errors each one injects. docs/chaos.md names the
local faults with no FIS action (a DynamoDB outage, dropped connections) and the FIS actions with no
local counterpart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tools.fis import ExperimentError, duration_seconds


@dataclass(frozen=True)
class FisAction:
    """One FIS action: the resource it targets, the key its action names that target by, and the
    calls it fails (every listed operation, ``percentage`` of them, as a whole-call error)."""

    resource_type: str
    target_key: str
    service: str
    operations: tuple[str, ...]
    error: str
    status: int


ACTIONS: dict[str, FisAction] = {
    # "Target Operations: PutRecord, PutRecords, GetRecords; Error Code:
    # ProvisionedThroughputExceededException (HTTP 400)" (developer guide, kinesis-fis-provisioned-throughput)
    "aws:kinesis:stream-provisioned-throughput-exception": FisAction(
        "aws:kinesis:stream",
        "KinesisStreams",
        "kinesis",
        ("PutRecord", "PutRecords", "GetRecords"),
        "ProvisionedThroughputExceededException",
        400,
    ),
    # "Target Operations: GetRecords; Error Code: ExpiredIteratorException (HTTP 400)"
    # (developer guide, kinesis-fis-expired-iterator)
    "aws:kinesis:stream-expired-iterator-exception": FisAction(
        "aws:kinesis:stream",
        "KinesisStreams",
        "kinesis",
        ("GetRecords",),
        "ExpiredIteratorException",
        400,
    ),
}


def fault_templates(action_id: str) -> list[dict[str, Any]]:
    """The local faults (without probability or duration) that reproduce one FIS action."""
    action = ACTIONS.get(action_id)
    if action is None:
        raise ExperimentError(f"{action_id}: no local counterpart; known: {', '.join(ACTIONS)}")
    return [
        {"service": action.service, "operation": op, "error": action.error, "status": action.status}
        for op in action.operations
    ]


def experiment_faults(properties: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The local faults of one experiment template's resolved properties: for each action, each
    operation it fails at its ``percentage`` for its ``duration``."""
    targets = properties.get("Targets") or {}
    actions = properties.get("Actions") or {}
    if not actions:
        raise ExperimentError("Actions: the experiment template has none")
    faults: list[dict[str, Any]] = []
    for name, spec in actions.items():
        action_id = spec.get("ActionId", "")
        action = ACTIONS.get(action_id)
        if action is None:
            raise ExperimentError(f"action {name}: {action_id}: no local counterpart; known: {', '.join(ACTIONS)}")
        parameters = spec.get("Parameters") or {}
        percentage = float(parameters.get("percentage", 100))
        if not 1 <= percentage <= 100:
            raise ExperimentError(f"action {name}: percentage {percentage:g} is outside 1-100")
        duration = duration_seconds(str(parameters.get("duration", "")))
        target_name = (spec.get("Targets") or {}).get(action.target_key)
        target = targets.get(target_name) if target_name else None
        if target is None or target.get("ResourceType") != action.resource_type:
            raise ExperimentError(f"action {name}: needs a {action.resource_type} target as {action.target_key}")
        arns = target.get("ResourceArns") or []
        if not arns:
            raise ExperimentError(f"action {name}: target {target_name} names no ResourceArns")
        # No per-stream match: GetRecords names no stream (only an iterator), and the local endpoint
        # serves one stack, whose stream is the target.
        for template in fault_templates(action_id):
            faults.append(
                {
                    **template,
                    "probability": percentage / 100,
                    "duration_s": duration,
                    "message": f"{action_id} ({name})",
                }
            )
    return faults
