"""The whole local pipeline while the stream is scaled from 2 shards to 4 and back to 2 under traffic
(UpdateShardCount, as CloudFormation scales it when ShardCount changes): every accepted event is
stored once, nothing reaches the failure destination, and the aggregates consumer, crossing two
generations of parent and child shards, counts each event exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from local.run import Demo
from local.runtime import LocalRuntime
from tests.aws_helpers import open_shards

pytestmark = pytest.mark.e2e


@pytest.fixture
def runtime() -> Iterator[LocalRuntime]:
    # short windows: the last ones close soon after the traffic ends
    running = LocalRuntime(port=0, api_port=0, stack_name="reshard", params={"TumblingWindowInSeconds": "5"}).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.timeout(300)
def test_scaling_up_and_down_under_traffic_loses_nothing_and_counts_each_event_once(runtime: LocalRuntime) -> None:
    demo = Demo(runtime)
    stream = demo.outputs["StreamName"]
    stop = threading.Event()

    def traffic() -> None:
        n = 0
        while not stop.is_set():
            demo.phase(f"scaling-{n}", 4, 10, 2)
            n += 1
            time.sleep(0.2)

    writer = threading.Thread(target=traffic, name="traffic")
    writer.start()
    try:
        time.sleep(3)
        up = demo.kinesis.update_shard_count(StreamName=stream, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
        assert (up["CurrentShardCount"], up["TargetShardCount"]) == (2, 4)
        assert len(open_shards(demo.kinesis, stream)) == 4
        time.sleep(4)
        down = demo.kinesis.update_shard_count(StreamName=stream, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
        assert (down["CurrentShardCount"], down["TargetShardCount"]) == (4, 2)
        time.sleep(4)
    finally:
        stop.set()
        writer.join(timeout=60)

    assert len(open_shards(demo.kinesis, stream)) == 2
    assert len(demo.kinesis.list_shards(StreamName=stream)["Shards"]) == 8  # 2, their 4 children, 2 merged
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not demo.accepted <= demo.stored_ids() | demo.overflow_ids():
        time.sleep(2)
    stored = demo.stored_ids()
    assert len(demo.accepted) >= 400
    assert demo.accepted <= stored | demo.overflow_ids()
    for function in ("ProcessFunction", "AggregateFunction"):
        assert runtime.mapping(function).stats.records_to_destination == 0
        assert runtime.mapping(function).stats.emulator_errors == 0
    assert demo.failure_records() == set()
    # every shard of the lineage was read by the first consumer; the second reads what it stored
    assert len(runtime.mapping("ProcessFunction").lanes) == 8
    assert demo.wait_for_windows(60)
    assert demo.aggregate_counts().get("demo.scaling", 0) == sum(1 for e in stored if e.startswith("scaling-"))
