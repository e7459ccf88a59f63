"""make chaos against a deployed stack: the experiment template ids come from the stack's outputs,
start and stop go to FIS; a stack without experiments is refused with what to do."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tools import chaos


class FakeFis:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def start_experiment(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("start", kwargs))
        return {"experiment": {"id": "EXP1", "state": {"status": "initiating"}}}

    def stop_experiment(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("stop", kwargs))
        return {"experiment": {"id": kwargs["id"], "state": {"status": "stopping"}}}


class FakeStack:
    def __init__(self, outputs: dict[str, str]) -> None:
        self.outputs = outputs
        self.fis = FakeFis()

    def client(self, service: str, read_timeout: float = 10) -> FakeFis:
        assert service == "fis"
        return self.fis


OUTPUTS = {"ChaosKinesisThrottleExperimentId": "EXTthrottle", "ChaosExpiredIteratorExperimentId": "EXTexpire"}


def test_start_and_stop_an_experiment_of_a_deployed_stack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = FakeStack(OUTPUTS)
    monkeypatch.setattr(chaos, "load_stack", lambda name: stack)
    assert chaos.main(["--stack", "weir-dev", "--experiment", "expired-iterator"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "EXP1"
    assert chaos.main(["--stack", "weir-dev", "--stop", "EXP1"]) == 0
    [(verb, started), (stop_verb, stopped)] = stack.fis.calls
    assert (verb, started["experimentTemplateId"]) == ("start", "EXTexpire")
    assert started["clientToken"]
    assert (stop_verb, stopped) == ("stop", {"id": "EXP1"})


def test_a_stack_deployed_without_experiments_is_refused_saying_how(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(chaos, "load_stack", lambda name: FakeStack({"StreamName": "s"}))
    assert chaos.main(["--stack", "weir-dev", "--experiment", "kinesis-throttle"]) == 2
    assert "ChaosExperiments=true" in capsys.readouterr().err
