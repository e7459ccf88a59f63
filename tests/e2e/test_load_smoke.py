"""`make load` end to end: Locust drives the local runtime, the reconciliation accounts for every
event (one Locust process, or a master and two workers), and Ctrl-C at any phase stops everything."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.endpoint import process_tree

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def _run_load(reports: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WEIR_EVENTS_PER_REQUEST": "5", "WEIR_PROGRESS_SECONDS": "2"}
    command = [sys.executable, "-m", "load.run_load", "--reports", str(reports), "--drain-seconds", "90", *extra]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400, check=False)


def _figures(reports: Path) -> dict[str, int]:
    rows = csv.reader((reports / "reconciliation.csv").open())
    return {row[0]: int(row[1]) for row in rows if row[0] != "figure"}


def _accounted(figures: dict[str, int]) -> int:
    return (
        figures["in the events table"]
        + figures["on the stream, not yet processed (backlog)"]
        + sum(v for k, v in figures.items() if k.startswith("waiting:"))
    )


def test_a_short_load_run_reconciles_every_event(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    result = _run_load(reports, "--duration", "8", "--users", "3", "--shape", "step")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    figures = _figures(reports)
    assert figures["sent"] > 0
    assert figures["lost"] == 0
    assert _accounted(figures) == figures["accepted"]
    assert (reports / "locust.html").exists()
    assert (reports / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the consumer's concurrency against its cap (ShardCount=1 x ParallelizationFactor 2)
    assert "consumer concurrency: peak" in output
    assert "cap 2" in output
    assert (reports / "locust_stats.csv").read_text().count("POST /events") >= 1
    # a progress line while loading and while draining, and no log line repeated per poll
    assert "[load " in output
    assert "[drain " in output
    assert "Found credentials" not in output


def test_two_workers_send_their_ledgers_and_the_master_reconciles_once(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    result = _run_load(reports, "--duration", "6", "--users", "4", "--shape", "hold2x", "--workers", "2")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "to 2 ready workers" in output
    assert output.count("Reconciliation:") == 1
    assert "ledgers from 2 workers, reconciled once by the master" in output
    figures = _figures(reports)
    assert figures["sent"] > 0
    assert figures["lost"] == 0
    assert _accounted(figures) == figures["accepted"]
    assert figures["accepted"] + figures["not taken (client told; retry is the client's)"] <= figures["sent"]


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                alive.append(pid)
        except (FileNotFoundError, IndexError):
            continue
    return alive


@pytest.mark.parametrize("phase", ["load", "drain"])
def test_ctrl_c_stops_everything_it_started(tmp_path: Path, phase: str) -> None:
    env = {**os.environ, "WEIR_EVENTS_PER_REQUEST": "5", "WEIR_PROGRESS_SECONDS": "1"}
    # a drain that cannot end by itself: a long load for the consumer of one shard
    command = [sys.executable, "-m", "load.run_load", "--reports", str(tmp_path), "--duration"]
    command += ["60", "--users", "3"] if phase == "load" else ["4", "--users", "6", "--drain-seconds", "300"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    seen: list[str] = []
    tree: set[int] = set()
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 180
        for text in process.stdout:
            seen.append(text)
            tree |= set(process_tree(process.pid))  # the runtime, its workers, Locust
            if text.startswith(f"[{phase} ") and len(tree) > 3:
                break
            assert time.monotonic() < deadline, "".join(seen)[-3000:]
        assert any(text.startswith(f"[{phase} ") for text in seen), "".join(seen)[-3000:]
        tree |= set(process_tree(process.pid))
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        rest, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, "".join(seen)[-2000:] + rest[-2000:]
    assert "interrupted" in rest
    assert "Reconciliation:" not in rest
    deadline = time.monotonic() + 10
    while _alive(sorted(tree)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(sorted(tree)), f"still running after Ctrl-C: {_alive(sorted(tree))}"
