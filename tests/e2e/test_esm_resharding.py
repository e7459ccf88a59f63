"""The event source mapping emulator across a split and a merge: it finds the children, reads each only
after its parents are finished, and so hands a partition key's records to the function in the order
they were written, each once; a tumbling window ends with its shard and the child starts fresh."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.awslambda import esm
from tests.aws_helpers import open_shards, wait_active
from tests.e2e.test_esm_fidelity import Harness
from tests.endpoint import LocalEndpoint

pytestmark = pytest.mark.e2e

WINDOWED = Path(__file__).parent / "handlers" / "windowed.py"
KEYS = [f"key-{n}" for n in range(12)]


@pytest.fixture
def harness(endpoint: LocalEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setattr(esm, "SHARD_DISCOVERY_SECONDS", 0.3)
    monkeypatch.setattr(esm, "WINDOW_CLOSE_WAIT_SECONDS", 0.5)
    running = Harness(endpoint, tmp_path / "invocations.jsonl")
    yield running
    running.stop()


def split(harness: Harness) -> None:
    [shard] = open_shards(harness.kinesis, harness.stream)
    low, high = int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])
    harness.kinesis.split_shard(
        StreamName=harness.stream, ShardToSplit=shard["ShardId"], NewStartingHashKey=str((low + high) // 2 + 1)
    )
    wait_active(harness.kinesis, harness.stream)


def merge(harness: Harness) -> None:
    a, b = open_shards(harness.kinesis, harness.stream)
    harness.kinesis.merge_shards(
        StreamName=harness.stream, ShardToMerge=a["ShardId"], AdjacentShardToMerge=b["ShardId"]
    )
    wait_active(harness.kinesis, harness.stream)


def put(harness: Harness, ids: range) -> dict[int, str]:
    """Records ``{"id": n}`` over KEYS, in order, one call per record (so a key's order is the
    order of the calls); returns each id's shard."""
    shard_of = {}
    for n in ids:
        answer = harness.kinesis.put_record(
            StreamName=harness.stream, Data=json.dumps({"id": n}).encode(), PartitionKey=KEYS[n % len(KEYS)]
        )
        shard_of[n] = answer["ShardId"]
    return shard_of


def test_children_are_read_after_their_parents_and_each_keys_records_arrive_in_order(harness: Harness) -> None:
    # GIVEN a mapping reading a one-shard stream, and records written before a split, between the
    # split and a merge, and after the merge
    harness.start(batch_size=5, window_seconds=0.2, parallelization=2)
    shard_of = put(harness, range(0, 36))
    split(harness)
    shard_of |= put(harness, range(36, 72))
    merge(harness)
    shard_of |= put(harness, range(72, 108))
    assert len(set(shard_of.values())) == 4  # the parent, its two children, the merged shard
    # WHEN the mapping has drained
    harness.wait_for_ids(set(range(108)), timeout=60)
    harness.wait_idle()
    calls = harness.invocations()
    # THEN every record reached the function exactly once, in a batch of its own shard
    delivered = [i for c in calls for i in c["ids"]]
    assert sorted(delivered) == list(range(108))
    for call in calls:
        shards = {e["eventID"].split(":")[0] for e in call["event"]["Records"]}
        assert shards == {shard_of[i] for i in call["ids"]}
        assert len(shards) == 1
    # AND each key's records came in the order they were written, across the split and the merge
    by_key: dict[str, list[int]] = defaultdict(list)
    for call in calls:
        for key, n in zip(call["keys"], call["ids"], strict=True):
            by_key[key].append(n)
    for key, ids in by_key.items():
        assert ids == sorted(ids), f"{key}: {ids}"
    # AND no child's batch started before its parent's last batch ended
    shard_calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        shard_calls[shard_of[call["ids"][0]]].append(call)
    lineage = {s["ShardId"]: s for s in harness.kinesis.list_shards(StreamName=harness.stream)["Shards"]}
    for shard_id, shard in lineage.items():
        for parent in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")):
            if parent and shard_calls[parent] and shard_calls[shard_id]:
                assert min(c["start"] for c in shard_calls[shard_id]) >= max(c["end"] for c in shard_calls[parent])
    assert harness.mapping is not None
    assert harness.mapping.stats.emulator_errors == 0


def test_a_window_ends_with_its_shard_and_the_child_starts_a_fresh_one(harness: Harness) -> None:
    # GIVEN a windowed mapping (a window far longer than the test) and records before and after a split
    harness.start(
        handler=WINDOWED,
        env={"SCRIPT_MARKERS": str(harness.markers)},
        tumbling_window=900,
        batch_size=100,
        window_seconds=0.2,
    )
    put(harness, range(0, 6))
    parent = open_shards(harness.kinesis, harness.stream)[0]["ShardId"]
    split(harness)
    shard_of = put(harness, range(6, 18))
    # WHEN the parent has been read to its end
    deadline = time.monotonic() + 30
    finals: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not finals:
        finals = [c for c in harness.invocations() if c["event"]["isFinalInvokeForWindow"]]
        time.sleep(0.2)
    # THEN its window was closed with its own records only, long before the window's end
    [final] = finals
    assert final["event"]["shardId"] == parent
    assert sorted(final["event"]["state"]["ids"]) == [0, 1, 2, 3, 4, 5]
    # AND each child started with a fresh state
    harness.wait_for_ids(set(range(18)), timeout=30)
    for call in harness.invocations():
        event = call["event"]
        if event["shardId"] != parent and event["Records"]:
            assert set(event["state"].get("ids", [])) <= {i for i, s in shard_of.items() if s == event["shardId"]}
