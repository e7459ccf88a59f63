"""The stack's FIS experiment templates, run locally as ``make chaos`` runs them: both Kinesis
experiments at once (a quarter of PutRecord/PutRecords/GetRecords calls throttled, a quarter of
GetRecords iterators expired) while events are posted. The producer backs off and resubmits, the
mapping re-reads from its checkpoint: every accepted event is stored (or waits in the overflow queue,
which is accepted, not lost), none reaches the failure destination, and the faults did fire."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from local.run import Demo
from local.runtime import LocalRuntime
from tools import chaos

pytestmark = pytest.mark.e2e

PARAMS = {"ChaosExperiments": "true", "ChaosPercentage": "25", "ChaosDuration": "PT1M"}


@pytest.fixture
def runtime() -> Iterator[LocalRuntime]:
    running = LocalRuntime(port=0, api_port=0, stack_name="chaos", params=PARAMS).start()
    try:
        yield running
    finally:
        running.stop()


def start(experiment: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert chaos.main(["--experiment", experiment]) == 0
    return str(json.loads(capsys.readouterr().out)["id"])


@pytest.mark.timeout(300)
def test_both_kinesis_experiments_lose_nothing_and_send_nothing_to_the_failure_destination(
    runtime: LocalRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    assert runtime.stack is not None
    assert set(runtime.stack.experiments) == set(chaos.EXPERIMENTS.values())
    demo = Demo(runtime)
    ids = [start("kinesis-throttle", capsys), start("expired-iterator", capsys)]
    assert runtime.endpoint is not None
    assert runtime.endpoint.server is not None
    faults = runtime.endpoint.server.gateway.faults
    assert {(f["operation"], f["error"], f["probability"], f["duration_s"]) for f in faults.list()} == {
        ("PutRecord", "ProvisionedThroughputExceededException", 0.25, 60),
        ("PutRecords", "ProvisionedThroughputExceededException", 0.25, 60),
        ("GetRecords", "ProvisionedThroughputExceededException", 0.25, 60),
        ("GetRecords", "ExpiredIteratorException", 0.25, 60),
    }
    for n in range(5):
        demo.phase(f"chaos-{n}", 4, 25, 2)
        time.sleep(2)
    fired = {(f["operation"], f["error"]): f["fired"] for f in faults.list()}
    for experiment_id in ids:
        assert chaos.main(["--stop", experiment_id]) == 0
    assert faults.list() == []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not demo.accepted <= demo.stored_ids() | demo.overflow_ids():
        time.sleep(2)

    assert fired[("PutRecords", "ProvisionedThroughputExceededException")] > 0
    assert fired[("GetRecords", "ProvisionedThroughputExceededException")] > 0
    assert fired[("GetRecords", "ExpiredIteratorException")] > 0
    assert len(demo.accepted) == 5 * 4 * 25
    assert demo.accepted <= demo.stored_ids() | demo.overflow_ids()
    assert runtime.mapping("ProcessFunction").stats.records_to_destination == 0
    assert demo.failure_records() == set()
