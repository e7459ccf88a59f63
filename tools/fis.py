"""What AWS FIS accepts in an experiment template, checked offline: its duration range.

Used by the deploy checks (tools/deploy_checks.py) on the template and by the local runtime, which
runs the same experiments as faults (local/fis/experiments.py).
"""

from __future__ import annotations

import re


class ExperimentError(ValueError):
    """An experiment template that cannot run locally; the message names the action or field."""


# FIS durations are ISO 8601 from one minute to 12 hours ("PT1M", "PT1H30M", "PT90S").
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")
_ONE_MINUTE, _TWELVE_HOURS = 60, 12 * 3600


def duration_seconds(text: str) -> int:
    """An FIS ``duration`` parameter in seconds; outside one minute to 12 hours is refused, as FIS does."""
    match = _DURATION.match(text or "")
    if not match or not any(match.groups()):
        raise ExperimentError(f"duration: {text!r} is not an ISO 8601 duration such as PT5M")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not _ONE_MINUTE <= total <= _TWELVE_HOURS:
        raise ExperimentError(f"duration: {text} is outside FIS's range of one minute to 12 hours")
    return total
