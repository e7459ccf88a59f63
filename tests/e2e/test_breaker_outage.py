"""The circuit breaker's acceptance, on the local runtime with the template's defaults: a 90 s outage
of every write to the events table, events posted before and during it. Nothing reaches the failure
destination, and every accepted event is in the events table within 3 minutes after the outage ends,
with no redrive. The mapping's disable delay is AWS's (60 s), not shortened."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from local.run import Demo
from local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e

OUTAGE_SECONDS = 90
RECOVERY_SECONDS = 180


@pytest.fixture
def runtime() -> Iterator[LocalRuntime]:
    running = LocalRuntime(port=0, api_port=0, stack_name="breaker-outage").start()
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.timeout(600)
def test_a_90_second_sink_outage_sends_nothing_to_the_failure_destination_and_loses_nothing(
    runtime: LocalRuntime,
) -> None:
    demo = Demo(runtime)
    demo.phase("before", 4, 25, 2)
    assert runtime.endpoint is not None
    assert runtime.endpoint.server is not None
    faults = runtime.endpoint.server.gateway.faults
    outage = faults.add(
        {
            "service": "dynamodb",
            "operation": "PutItem",  # single and batched (PartiQL) writes alike, as make run's outage
            "error": "ProvisionedThroughputExceededException",
            "match": {"TableName": demo.events_table},
            "duration_s": OUTAGE_SECONDS,
        }
    )
    started = time.monotonic()
    for n in range(6):  # events keep arriving during the outage
        demo.phase(f"during-{n}", 2, 25, 2)
        time.sleep(10)
    while time.monotonic() - started < OUTAGE_SECONDS:
        time.sleep(1)
    faults.remove(outage.id)
    ended = time.monotonic()
    deadline = ended + RECOVERY_SECONDS
    mapping = runtime.mapping("ProcessFunction")
    while time.monotonic() < deadline and not demo.accepted <= demo.stored_ids():
        time.sleep(2)
    recovered_after = time.monotonic() - ended
    # The breaker closed; the breaker function's next scheduled run enables the mapping again (it
    # disabled it while the breaker was open), and what is posted then is processed.
    while time.monotonic() < deadline and mapping.state != "Enabled":
        time.sleep(1)
    demo.phase("after", 2, 25, 2)
    while time.monotonic() < deadline and not demo.accepted <= demo.stored_ids():
        time.sleep(1)

    assert len(demo.accepted) == 4 * 25 + 6 * 2 * 25 + 2 * 25
    assert mapping.stats.records_to_destination == 0
    assert demo.failure_records() == set()
    missing = demo.accepted - demo.stored_ids()
    assert not missing, f"{len(missing)} accepted events not stored {time.monotonic() - ended:.0f} s after the outage"
    assert mapping.state == "Enabled"
    print(f"outage events stored {recovered_after:.0f} s after the outage ended")
