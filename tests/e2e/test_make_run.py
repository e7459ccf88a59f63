"""`make run`'s ledger: every event accounted for, and lost must be 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(600)
def test_the_demo_run_accounts_for_every_event_and_loses_none(tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.run",
            "--port",
            "0",
            "--api-port",
            "0",
            "--scale",
            "0.4",
            "--ledger",
            str(ledger_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    ledger = json.loads(ledger_path.read_text())
    assert ledger["lost"] == 0
    assert ledger["sent"] == ledger["accepted"] + ledger["not_taken_503"]
    assert ledger["in_events_table"] + ledger["still_waiting"] == ledger["accepted"]
    assert ledger["quarantined"] == ledger["poison_sent"] == 5
    # the sink outage sent batches to the failure destination, and the redrive brought them back
    assert ledger["went_to_failure_destination"] > 0
    assert ledger["redriven"] >= ledger["went_to_failure_destination"]
    assert ledger["shard_throttled_entries"] > 0
    # the long outage, with the circuit breaker: held on the stream, nothing to the failure destination
    assert ledger["long_outage_events"] > 0
    assert ledger["long_outage_to_failure_destination"] == 0
    assert ledger["long_outage_not_stored"] == 0
    # the second consumer: its per-window counts add up to the events table's, type by type, though
    # events were posted twice and batches were retried and redriven
    assert ledger["duplicates_posted"] == 20
    assert ledger["aggregates_differences"] == 0
    assert ledger["aggregates_windows_closed"] > 0
    assert {"demo.steady", "demo.burst", "demo.outage", "demo.long"} <= set(ledger["aggregates_by_type"])
    # it counts what was stored: the quarantined poison records are not among its types
    assert set(ledger["aggregates_by_type"]) == {t for t in ledger["aggregates_by_type"] if t.startswith("demo.")}
    assert "Ledger:" in result.stdout
