"""The GitHub workflows call the Makefile, as a person would: every `make <target>` a step runs
exists, and every variable a step passes to make is one the Makefile reads."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
MAKEFILE = (ROOT / "Makefile").read_text()
TARGETS = set(re.findall(r"^([A-Za-z0-9_-]+):", MAKEFILE, flags=re.MULTILINE))


def make_calls() -> list[tuple[str, list[str]]]:
    """(workflow, the words after `make`) for every make call in a step's run."""
    calls = []
    for path in WORKFLOWS:
        workflow: dict[str, Any] = yaml.safe_load(path.read_text())
        for job in workflow["jobs"].values():
            for step in job.get("steps", []):
                run = step.get("run", "")
                for line in run.replace("\\\n", " ").splitlines():
                    words = shlex.split(line)
                    if words and words[0] == "make":
                        calls.append((path.name, words[1:]))
    return calls


def test_there_are_workflows_for_pull_requests_and_the_main_branch() -> None:
    assert {p.name for p in WORKFLOWS} == {"test.yml", "deploy.yml", "pull-request-stack.yml"}
    assert any(words[0] == "test" for name, words in make_calls() if name == "test.yml")


def test_every_make_target_a_workflow_runs_exists() -> None:
    calls = make_calls()
    assert calls
    for name, words in calls:
        targets = [w for w in words if "=" not in w]
        assert targets, f"{name}: make without a target"
        missing = set(targets) - TARGETS
        assert not missing, f"{name}: make {' '.join(words)}: no target {missing} in the Makefile"


def test_every_variable_a_workflow_passes_to_make_is_read_by_the_makefile() -> None:
    for name, words in make_calls():
        for word in words:
            if "=" in word:
                variable = word.split("=", 1)[0]
                assert f"$({variable})" in MAKEFILE, f"{name}: {variable} is passed but the Makefile never reads it"


def test_the_deploying_workflows_use_short_lived_credentials_only() -> None:
    for path in WORKFLOWS:
        text = path.read_text()
        assert "AWS_SECRET_ACCESS_KEY" not in text, path.name
        assert "aws-secret-access-key" not in text, path.name
        workflow = yaml.safe_load(text)
        if "configure-aws-credentials" in text:
            assert workflow["permissions"]["id-token"] == "write", path.name
            assert "role-to-assume" in text, path.name


def test_make_deploy_refuses_params_it_would_not_deploy() -> None:
    """make preflight checks PARAMS, but sam deploy deploys samconfig.toml's parameters: a PARAMS on
    make deploy would have the checks pass on values that are never deployed."""
    import subprocess

    done = subprocess.run(
        ["make", "deploy", "PARAMS=ShardCount=4"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "put them in its parameter_overrides" in done.stderr
    assert "sam deploy" not in done.stdout
