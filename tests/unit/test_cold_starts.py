"""What each function imports on a cold start: only what its own work needs. The breaker function
runs every minute; Powertools' batch and idempotency utilities are the consumer's, not its."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONSUMER_ONLY = ("aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.idempotency")

PROGRAM = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


def imported_by(module: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, module],
        cwd=ROOT,
        env={
            "PYTHONPATH": f"{ROOT / 'layers' / 'weir'}:{ROOT}",
            "PATH": "/usr/bin:/bin",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("function", ["breaker", "ingest", "redrive"])
def test_a_function_that_is_not_a_consumer_does_not_load_batch_processing_or_idempotency(function: str) -> None:
    modules = imported_by(f"functions.{function}.app")
    assert not {m for m in modules if m.startswith(CONSUMER_ONLY)}


def test_the_consumer_loads_both() -> None:
    # the check above can fail: the process function does load them
    modules = imported_by("functions.process.app")
    assert all(any(m.startswith(prefix) for m in modules) for prefix in CONSUMER_ONLY)
