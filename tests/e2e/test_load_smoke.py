"""A short `make load`: Locust drives the local runtime, and the reconciliation accounts for every event."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def test_a_short_load_run_reconciles_every_event(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    env = {**os.environ, "WEIR_EVENTS_PER_REQUEST": "5"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "load.run_load",
            "--duration",
            "8",
            "--users",
            "3",
            "--shape",
            "step",
            "--reports",
            str(reports),
            "--drain-seconds",
            "90",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    figures = {row[0]: int(row[1]) for row in csv.reader((reports / "reconciliation.csv").open()) if row[0] != "figure"}
    assert figures["sent"] > 0
    assert figures["lost"] == 0
    accounted = (
        figures["in the events table"]
        + figures["on the stream, not yet processed (backlog)"]
        + sum(v for k, v in figures.items() if k.startswith("waiting:"))
    )
    assert accounted == figures["accepted"]
    assert (reports / "locust.html").exists()
    assert (reports / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the consumer's concurrency against its cap (ShardCount=1 x ParallelizationFactor 2 = 2 < reserved 4)
    assert "consumer concurrency: peak" in output
    assert "cap 2" in output
    assert (reports / "locust_stats.csv").read_text().count("POST /events") >= 1
