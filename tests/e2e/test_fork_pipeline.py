"""The fork guide's example runs end to end on the local runtime: its template edits deployed, its
order events through the HTTP API to its own sink (an SQS queue, not idempotent by itself), every
accepted event handed over once, lost 0 (tests/fork/run_pipeline.py on a copy of the repository)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fork.guide import ROOT, make_fork

pytestmark = [pytest.mark.e2e, pytest.mark.fork]


def _environment_of(fork: Path) -> dict[str, str]:
    """This process's environment for a command run in the fork: its own code first on the path."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(fork / "layers" / "weir"), str(fork)])
    return env


@pytest.mark.timeout(300)
def test_the_guides_fork_hands_every_accepted_event_to_its_sink_once(tmp_path: Path) -> None:
    fork = make_fork(tmp_path / "fork")
    # the local Kinesis server is an npm package the checkout installs (make setup), not a file of it
    (fork / "local" / "node_modules").symlink_to(ROOT / "local" / "node_modules")
    env = _environment_of(fork)
    ledger_path = tmp_path / "ledger.json"
    done = subprocess.run(
        [sys.executable, "-m", "tests.fork.run_pipeline", "--ledger", str(ledger_path)],
        cwd=fork,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ledger = json.loads(ledger_path.read_text())
    assert ledger["accepted"] == ledger["sent"] == ledger["handed_to_the_sink"]
    assert (ledger["lost"], ledger["handed_twice"]) == (0, 0)
    assert ledger["posted_again"] > 0
    assert ledger["refused_400"] == ["events[0].type"]


def test_make_run_in_the_guides_fork_points_to_make_up_instead_of_a_ledger(tmp_path: Path) -> None:
    fork = make_fork(tmp_path / "fork")
    env = _environment_of(fork)
    done = subprocess.run(
        [sys.executable, "-m", "local.run", "--ledger", str(tmp_path / "ledger.json")],
        cwd=fork,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "unknown event type 'demo.steady'" in done.stderr
    assert "make up" in done.stderr
    assert not (tmp_path / "ledger.json").exists()
