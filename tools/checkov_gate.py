"""Reads checkov's JSON report and fails unless the scan really ran and found nothing unexplained.

checkov's exit code alone is not enough: a template it cannot parse is reported as a parsing
error, not a failed check, and a suppression without a reason passes silently.

    python -m tools.checkov_gate build/checkov.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

MIN_REASON = 40


def problems(report: Any) -> tuple[list[str], dict[str, int]]:
    reports = report if isinstance(report, list) else [report]
    found: list[str] = []
    totals = {"passed": 0, "failed": 0, "skipped": 0, "resource_count": 0}
    for part in reports:
        summary = part.get("summary", {})
        for key in totals:
            totals[key] += int(summary.get(key, 0))
        if summary.get("parsing_errors"):
            found.append(f"{part.get('check_type')}: {summary['parsing_errors']} file(s) could not be parsed")
        for check in part.get("results", {}).get("failed_checks", []):
            found.append(
                f"{check['check_id']} ({check['check_name']}) fails on {check['resource']} in {check['file_path']}"
            )
        for check in part.get("results", {}).get("skipped_checks", []):
            reason = (check.get("check_result") or {}).get("suppress_comment") or ""
            if len(reason.strip()) < MIN_REASON:
                found.append(f"{check['check_id']} is skipped on {check['resource']} without a reason")
    if not totals["resource_count"] or not totals["passed"]:
        found.append("checkov scanned no resources: is the template where the Makefile says?")
    return found, totals


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tools.checkov_gate REPORT.json", file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        print(f"checkov: no readable report at {path}: {exc}", file=sys.stderr)
        return 1
    found, totals = problems(report)
    print(
        f"checkov: {totals['resource_count']} resources, {totals['passed']} passed, "
        f"{totals['failed']} failed, {totals['skipped']} skipped (each with its reason in template.yaml)"
    )
    for problem in found:
        print(f"  {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
