"""Tumbling windows in the event source mapping emulator, as the Lambda developer guide describes
them (docs/aws-facts.md, "Tumbling windows"): batches of one window, the state carried between
invocations, a final invocation per window, a failed invocation retried with the state before it, an
answer without state failed, a state past 1 MB terminating the window early."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.awslambda import esm
from tests.e2e.test_esm_fidelity import Harness
from tests.endpoint import LocalEndpoint

pytestmark = pytest.mark.e2e

HANDLER = Path(__file__).parent / "handlers" / "windowed.py"
WIDTH = 2  # seconds


@pytest.fixture
def harness(endpoint: LocalEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setattr(esm, "WINDOW_CLOSE_WAIT_SECONDS", 0.5)
    running = Harness(endpoint, tmp_path / "invocations.jsonl")
    yield running
    running.stop()


def start(harness: Harness, **settings: Any) -> None:
    harness.start(
        handler=HANDLER,
        env={"SCRIPT_MARKERS": str(harness.markers)},
        tumbling_window=WIDTH,
        **settings,
    )


def wait_for_finals(harness: Harness, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        finals = [i for i in harness.invocations() if i["event"]["isFinalInvokeForWindow"]]
        if len(finals) >= count:
            return finals
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} windows closed in {timeout} s")


def next_window_start() -> None:
    """Sleep until just after a window boundary, so that records put now share one window."""
    now = time.time()
    time.sleep(WIDTH - now % WIDTH + 0.05)


def test_batches_hold_one_window_each_and_each_window_ends_with_a_final_invocation(harness: Harness) -> None:
    start(harness, batch_size=100, window_seconds=0.0)
    next_window_start()
    harness.put([{"action": "ok"}] * 3)
    next_window_start()
    harness.kinesis.put_records(
        StreamName=harness.stream, Records=[{"Data": f'{{"id": {n}}}'.encode(), "PartitionKey": "k"} for n in (10, 11)]
    )
    finals = wait_for_finals(harness, 2)
    aggregations = [i for i in harness.invocations() if not i["event"]["isFinalInvokeForWindow"]]
    for invocation in aggregations:
        event = invocation["event"]
        starts = {int(r["kinesis"]["approximateArrivalTimestamp"] // WIDTH * WIDTH) for r in event["Records"]}
        assert len(starts) == 1, "a batch spans two windows"
        assert event["window"]["start"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(starts.pop()))
        assert event["shardId"] == "shardId-000000000000"
        assert event["isWindowTerminatedEarly"] is False
    assert [f["event"]["Records"] for f in finals] == [[], []]
    assert [sorted(f["event"]["state"]["ids"]) for f in finals[:2]] == [[0, 1, 2], [10, 11]]
    first, second = (f["event"]["window"] for f in finals[:2])
    assert first["end"] <= second["start"]
    assert harness.mapping is not None
    assert harness.mapping.stats.windows_closed >= 2


def test_a_failed_invocation_is_retried_with_the_state_before_it(harness: Harness) -> None:
    start(harness, batch_size=2, window_seconds=0.0, bisect=False)
    next_window_start()
    harness.put([{"action": "ok"}, {"action": "ok"}, {"action": "raise_once"}, {"action": "ok"}])
    [final] = wait_for_finals(harness, 1)
    assert sorted(final["event"]["state"]["ids"]) == [0, 1, 2, 3]  # each once
    calls = [i for i in harness.invocations() if 2 in i["ids"]]
    assert len(calls) == 2  # the failure, then the retry
    assert calls[0]["event"]["state"] == calls[1]["event"]["state"] == {"ids": [0, 1]}


def test_an_answer_without_state_is_a_failed_invocation(harness: Harness) -> None:
    start(harness, batch_size=10, window_seconds=0.5)
    next_window_start()
    harness.put([{"action": "nostate_once"}, {"action": "ok"}])
    [final] = wait_for_finals(harness, 1)
    assert sorted(final["event"]["state"]["ids"]) == [0, 1]
    assert len([i for i in harness.invocations() if i["ids"] == [0, 1]]) == 2


def test_a_state_past_1_mb_terminates_the_window_early_and_it_goes_on_fresh(harness: Harness) -> None:
    start(harness, batch_size=1, window_seconds=0.0)
    next_window_start()
    harness.put([{"action": "big"}, {"action": "ok"}])
    [final] = wait_for_finals(harness, 1)
    early = [i for i in harness.invocations() if i["event"]["isWindowTerminatedEarly"]]
    assert len(early) == 1
    assert early[0]["event"]["Records"] == []
    assert early[0]["event"]["state"]["ids"] == [0]
    assert early[0]["event"]["window"] == final["event"]["window"]  # the same window goes on
    assert final["event"]["state"] == {"ids": [1]}  # with a fresh state
    assert harness.mapping is not None
    assert harness.mapping.stats.windows_terminated_early == 1
