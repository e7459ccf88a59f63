"""docs/fork-guide.md works: its domain.py and template edits, put in a copy of the repository,
change the event types and the sink, and nothing else has to change."""

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

from tests.fork.guide import ROOT, example_domain, make_fork, template_edits


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
    for name in ("EVENT_TYPES = ", "class SinkSettings(", "def make_sink(", "def example_event("):
        assert name in shipped
        assert name in example_domain()


def test_the_guide_edits_every_region_of_the_template_a_sink_plugs_into() -> None:
    template = (ROOT / "template.yaml").read_text()
    regions = set(re.findall(r"# --- end of (.+?) ---$", template, re.M))
    assert regions == set(template_edits())


def test_the_api_refuses_a_payload_that_does_not_fit_and_a_type_it_does_not_take(findings: dict[str, Any]) -> None:
    assert findings["ingest_rejected"] == {
        "status": 400,
        "fields": [
            "events[1].payload.amount_cents",
            "events[1].payload.colour",
            "events[1].payload.currency",
            "events[2].type",
        ],
    }


def test_the_consumer_hands_each_event_to_the_new_sink_once_typed(findings: dict[str, Any]) -> None:
    # the batch was delivered twice: the sink is not idempotent by itself, the consumer made it so
    assert findings["batch_item_failures"] == [[], []]
    assert findings["fulfilment"] == [
        {
            "event_id": "good-1",
            "type": "order.placed",
            "order": {"order_id": "o-1", "amount_cents": 1250, "currency": "EUR"},
        },
        {"event_id": "good-2", "type": "order.cancelled", "order": {"order_id": "o-1", "reason": "late"}},
    ]


def test_a_record_that_does_not_fit_is_quarantined_once_with_the_reason(findings: dict[str, Any]) -> None:
    [bad, unknown] = findings["quarantined"]
    assert [bad["record"]["data"]["event_id"], unknown["record"]["data"]["event_id"]] == ["bad-1", "bad-2"]
    for field in ("payload.amount_cents", "payload.colour", "payload.currency"):
        assert field in bad["reason"]
    assert "unknown event type 'order.lost'" in unknown["reason"]


def test_the_samples_and_the_api_document_follow_the_forks_types(findings: dict[str, Any]) -> None:
    """Nothing but domain.py changed in the copy, yet the tests' and the load test's sample events
    fit the new types, and make openapi would write their schemas."""
    assert findings["samples_fit"] is True
    assert findings["openapi_payloads"] == {
        "order.placed": ["amount_cents", "currency", "order_id"],
        "order.cancelled": ["order_id", "reason"],
    }


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


@pytest.mark.fork
def test_the_whole_guide_on_a_copy_leaves_make_checks_tests_green(tmp_path: Path) -> None:
    """Steps 1 and 2 (the example domain.py, the template edits), step 3 (`make openapi`) and step 4's
    fast half (`make check`,
    which leaves this test out, so the copy does not copy itself) on a copy of the repository, with
    this virtual environment: every unit and template test passes with the fork's payload and sink."""
    fork = make_fork(tmp_path / "fork")
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
    assert "Envelope.order.placed" in (fork / "docs" / "openapi.yaml").read_text()

    for command in recipe("check", BIN=bin_dir, PYTEST_ARGS="-p no:cacheprovider"):
        done = run(command, 600)
        assert done.returncode == 0, f"{command}\n{done.stdout[-4000:]}{done.stderr[-2000:]}"
    assert re.search(r"\b[1-9]\d* passed", done.stdout), done.stdout[-2000:]
