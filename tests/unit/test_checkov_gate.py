"""make checkov fails on a finding, an unexplained skip, an unparsed file or a scan of nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tools.checkov_gate import main, problems

REASON = "Encrypted at rest with SSE-SQS; this check only recognises KmsMasterKeyId"


def report(
    failed: Sequence[dict[str, Any]] = (), skipped: Sequence[dict[str, Any]] = (), **summary: int
) -> dict[str, Any]:
    base = {"passed": 10, "failed": len(failed), "skipped": len(skipped), "parsing_errors": 0, "resource_count": 5}
    return {
        "check_type": "cloudformation",
        "summary": base | summary,
        "results": {"failed_checks": list(failed), "skipped_checks": list(skipped)},
    }


def skip(comment: str | None) -> dict[str, Any]:
    return {
        "check_id": "CKV_AWS_27",
        "check_name": "SQS encrypted",
        "resource": "AWS::SQS::Queue.OverflowQueue",
        "file_path": "/template.yaml",
        "check_result": {"result": "SKIPPED", "suppress_comment": comment},
    }


def test_a_clean_scan_with_explained_skips_passes() -> None:
    assert problems(report(skipped=[skip(REASON)]))[0] == []


def test_a_failed_check_is_named() -> None:
    failed = {**skip(None), "check_result": {"result": "FAILED"}}
    (found,) = problems(report(failed=[failed]))[0]
    assert "CKV_AWS_27" in found
    assert "OverflowQueue" in found


@pytest.mark.parametrize("comment", [None, "", "because"])
def test_a_skip_without_a_real_reason_fails(comment: str | None) -> None:
    (found,) = problems(report(skipped=[skip(comment)]))[0]
    assert "without a reason" in found


def test_an_unparsed_file_or_an_empty_scan_fails() -> None:
    assert "could not be parsed" in problems(report(parsing_errors=1))[0][0]
    assert "no resources" in problems(report(resource_count=0, passed=0))[0][0]


def test_the_command_reads_a_list_of_reports_and_refuses_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "checkov.json"
    path.write_text(json.dumps([report(), report(skipped=[skip(REASON)])]))
    assert main([str(path)]) == 0
    assert main([str(tmp_path / "missing.json")]) == 1
