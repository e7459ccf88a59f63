"""docs/fork-guide.md works: its domain.py, dropped into a copy of the layer, changes the payload
schema and the sink, and nothing else has to change."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "fork-guide.md"
MARKER = "<!-- fork-example: layers/weir/weir/domain.py -->"


def example_domain() -> str:
    text = GUIDE.read_text()
    assert MARKER in text, f"{GUIDE} lost its example marker"
    match = re.search(r"```python\n(.*?)```", text[text.index(MARKER) :], re.S)
    assert match, "no python block after the marker"
    return match.group(1)


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    layer = tmp_path_factory.mktemp("forked-layer")
    shutil.copytree(ROOT / "layers" / "weir" / "weir", layer / "weir", ignore=shutil.ignore_patterns("__pycache__"))
    (layer / "weir" / "domain.py").write_text(example_domain())
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(layer), str(ROOT)]),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "WeirFork",
    }
    for name in list(env):
        if name.startswith("AWS_ENDPOINT_URL"):
            del env[name]
    done = subprocess.run(
        [sys.executable, "-m", "tests.fork.check_example"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["domain_file"] == str(layer / "weir" / "domain.py"), "the copy was not the one imported"
    return result


def test_the_guide_names_the_one_place_a_fork_edits() -> None:
    shipped = (ROOT / "layers" / "weir" / "weir" / "domain.py").read_text()
    for name in ("class Payload(", "def make_sink(", "def example_payload("):
        assert name in shipped
        assert name in example_domain()


def test_the_api_refuses_a_payload_that_does_not_fit_and_names_each_field(findings: dict[str, Any]) -> None:
    assert findings["ingest_rejected"] == {
        "status": 400,
        "fields": ["events[1].payload.amount_cents", "events[1].payload.colour", "events[1].payload.currency"],
    }


def test_the_consumer_stores_through_the_new_sink_once(findings: dict[str, Any]) -> None:
    assert findings["batch_item_failures"] == [[], []]
    assert findings["stored"] == [
        {
            "event_id": {"S": "good-1"},
            "order_id": {"S": "o-1"},
            "amount_cents": {"N": "1250"},
            "currency": {"S": "EUR"},
            "occurred_at": {"S": "2026-11-23T12:00:00Z"},
        }
    ]


def test_a_record_that_does_not_fit_is_quarantined_with_the_reason(findings: dict[str, Any]) -> None:
    # The batch was delivered twice: the poison record is quarantined on each delivery.
    assert [q["record"]["data"]["event_id"] for q in findings["quarantined"]] == ["bad-1", "bad-1"]
    for field in ("payload.amount_cents", "payload.colour", "payload.currency"):
        assert field in findings["quarantined"][0]["reason"]


def test_the_samples_and_the_api_document_follow_the_forks_payload(findings: dict[str, Any]) -> None:
    """Nothing but domain.py changed in the copy, yet the tests' and the load test's sample events
    fit the new payload, and make openapi would write its schema."""
    assert findings["samples_fit"] is True
    assert findings["openapi_payload_fields"] == ["amount_cents", "currency", "order_id"]


def recipe(target: str, **variables: str) -> list[str]:
    """The commands of a Makefile target, with the variables given substituted (any other is an error:
    the test must run what `make <target>` runs)."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    commands = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        command = line[1:]
        for name, value in variables.items():
            command = command.replace(f"$({name})", value)
        assert "$(" not in command, f"make {target}: {command!r} uses a variable this test does not set"
        commands.append(command)
    assert commands, f"make {target} has no commands"
    return commands


def repository_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    return [name for name in listed.stdout.decode().split("\0") if name and (ROOT / name).is_file()]


@pytest.mark.fork
def test_the_whole_guide_on_a_copy_leaves_make_checks_tests_green(tmp_path: Path) -> None:
    """Step 1 (the example domain.py), step 3 (`make openapi`) and step 4's fast half (`make check`,
    which leaves this test out, so the copy does not copy itself) on a copy of the repository, with
    this virtual environment: every unit and template test passes with the fork's payload and sink."""
    fork = tmp_path / "fork"
    for name in repository_files():
        target = fork / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    (fork / "layers" / "weir" / "weir" / "domain.py").write_text(example_domain())
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(fork / "layers" / "weir"), str(fork)])
    bin_dir = str(Path(sys.executable).parent)

    def run(command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=fork,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    which = run(f'{bin_dir}/python -c "import weir.domain; print(weir.domain.__file__)"', 60)
    assert which.stdout.strip() == str(fork / "layers" / "weir" / "weir" / "domain.py"), which.stderr

    for command in recipe("openapi", BIN=bin_dir):
        done = run(command, 120)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert (fork / "docs" / "openapi.yaml").read_text() != (ROOT / "docs" / "openapi.yaml").read_text()
    assert "amount_cents" in (fork / "docs" / "openapi.yaml").read_text()

    for command in recipe("check", BIN=bin_dir, PYTEST_ARGS="-p no:cacheprovider"):
        done = run(command, 600)
        assert done.returncode == 0, f"{command}\n{done.stdout[-4000:]}{done.stderr[-2000:]}"
    assert re.search(r"\b[1-9]\d* passed", done.stdout), done.stdout[-2000:]
