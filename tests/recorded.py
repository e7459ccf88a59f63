"""Compare an answer of the local endpoint with one recorded against AWS (tests/fixtures/aws-recorded/).

The recordings mask what varies from run to run: ``<shard_id:1>``, ``<sequence_number:3>``, ``<region>``,
account ``111111111111``, ``"timestamp"``, ``"starting_hash"``. A masked value matches any value of the
same kind; everything else must be equal, key for key: a key AWS does not send is a difference too.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "aws-recorded"
_MASKED_WORDS = {"timestamp", "starting_hash", "ending_hash"}
_PLACEHOLDER = re.compile(r"<[^<>]+>|111111111111")


def load(name: str) -> dict[str, Any]:
    """A fixture's scenarios, by test name."""
    return dict(json.loads((FIXTURES / name).read_text())["scenarios"])


def _pattern(recorded: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(recorded)
    masks = _PLACEHOLDER.findall(recorded)
    text = re.escape(parts[0])
    for mask, part in zip(masks, parts[1:], strict=True):
        text += (r"\d{12}" if mask == "111111111111" else r".+?") + re.escape(part)
    return re.compile(text)


def differences(recorded: Any, actual: Any, path: str = "$") -> list[str]:
    """Where ``actual`` differs from ``recorded``: an empty list when it matches."""
    if isinstance(recorded, dict):
        if not isinstance(actual, dict):
            return [f"{path}: recorded an object, got {actual!r}"]
        found = [f"{path}.{key}: missing" for key in recorded if key not in actual]
        found += [f"{path}.{key}: not in AWS's answer" for key in actual if key not in recorded]
        for key in recorded.keys() & actual.keys():
            if key == "HTTPHeaders":  # recorded as {}: headers are masked whole
                continue
            found += differences(recorded[key], actual[key], f"{path}.{key}")
        return found
    if isinstance(recorded, list):
        if not isinstance(actual, list) or len(actual) != len(recorded):
            return [f"{path}: recorded {len(recorded)} items, got {actual!r}"]
        return [
            d for i, (r, a) in enumerate(zip(recorded, actual, strict=True)) for d in differences(r, a, f"{path}[{i}]")
        ]
    if isinstance(recorded, str) and recorded in _MASKED_WORDS:
        ok = isinstance(actual, (str, int, float, datetime.datetime)) and not isinstance(actual, bool)
        return [] if ok else [f"{path}: recorded a masked value, got {actual!r}"]
    if isinstance(recorded, str) and _PLACEHOLDER.search(recorded):
        ok = isinstance(actual, str) and _pattern(recorded).fullmatch(actual) is not None
        return [] if ok else [f"{path}: recorded {recorded!r}, got {actual!r}"]
    return [] if recorded == actual else [f"{path}: recorded {recorded!r}, got {actual!r}"]
