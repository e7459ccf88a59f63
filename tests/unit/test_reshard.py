"""UpdateShardCount on the local stream (local/kinesis/reshard.py), against a small model of Kinesis' shards:
uniform ranges from any start, only splits and merges, lineage kept, AWS's limits refused."""

from __future__ import annotations

from typing import Any

import pytest

from local.kinesis.reshard import HASH_SPACE, Resharder, ReshardError, uniform_starts


class ShardModel:
    """A stream's shards as Kinesis keeps them: SplitShard and MergeShards close shards and open children."""

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        self.shards: list[dict[str, Any]] = []
        self.calls: list[str] = []
        for low, high in ranges:
            self._open(low, high)

    def _open(self, low: int, high: int, **parents: str) -> dict[str, Any]:
        shard = {
            "ShardId": f"shardId-{len(self.shards):012d}",
            "HashKeyRange": {"StartingHashKey": str(low), "EndingHashKey": str(high)},
            "SequenceNumberRange": {"StartingSequenceNumber": "1"},
            **parents,
        }
        self.shards.append(shard)
        return shard

    def _get(self, shard_id: str) -> dict[str, Any]:
        [shard] = [s for s in self.shards if s["ShardId"] == shard_id]
        assert "EndingSequenceNumber" not in shard["SequenceNumberRange"], f"{shard_id} is closed"
        return shard

    @staticmethod
    def _range(shard: dict[str, Any]) -> tuple[int, int]:
        return int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])

    def __call__(self, operation: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.calls.append(operation)
        if operation == "ListShards":
            return 200, {"Shards": self.shards}
        if operation == "DescribeStreamSummary":
            return 200, {"StreamDescriptionSummary": {"StreamStatus": "ACTIVE"}}
        if operation == "SplitShard":
            parent = self._get(params["ShardToSplit"])
            low, high = self._range(parent)
            at = int(params["NewStartingHashKey"])
            assert low < at <= high
            parent["SequenceNumberRange"]["EndingSequenceNumber"] = "9"
            self._open(low, at - 1, ParentShardId=parent["ShardId"])
            self._open(at, high, ParentShardId=parent["ShardId"])
            return 200, {}
        if operation == "MergeShards":
            a, b = self._get(params["ShardToMerge"]), self._get(params["AdjacentShardToMerge"])
            (a_low, a_high), (b_low, b_high) = self._range(a), self._range(b)
            assert a_high + 1 == b_low, "not adjacent"
            for shard in (a, b):
                shard["SequenceNumberRange"]["EndingSequenceNumber"] = "9"
            self._open(a_low, b_high, ParentShardId=a["ShardId"], AdjacentParentShardId=b["ShardId"])
            return 200, {}
        raise AssertionError(operation)

    def open_ranges(self) -> list[tuple[int, int]]:
        found = [s for s in self.shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
        return sorted(self._range(s) for s in found)


def uniform(count: int) -> list[tuple[int, int]]:
    starts = uniform_starts(count)
    return list(zip(starts, [*(s - 1 for s in starts[1:]), HASH_SPACE - 1], strict=True))


@pytest.mark.parametrize(("before", "after"), [(1, 2), (2, 4), (4, 2), (2, 1), (3, 5), (5, 3), (3, 6), (4, 3)])
def test_any_allowed_target_ends_in_that_many_equal_ranges_by_splits_and_merges(before: int, after: int) -> None:
    stream = ShardModel(uniform(before))
    answer = Resharder(stream, {"StreamName": "s"}, sleep=lambda _: None).update_shard_count(after, "UNIFORM_SCALING")
    assert answer == {"StreamName": "s", "CurrentShardCount": before, "TargetShardCount": after}
    assert stream.open_ranges() == uniform(after)
    assert set(stream.calls) <= {"ListShards", "DescribeStreamSummary", "SplitShard", "MergeShards"}


def test_doubling_and_halving_take_the_fewest_steps() -> None:
    stream = ShardModel(uniform(2))
    Resharder(stream, {"StreamName": "s"}).update_shard_count(4, "UNIFORM_SCALING")
    assert stream.calls.count("SplitShard") == 2
    assert stream.calls.count("MergeShards") == 0
    stream.calls.clear()
    Resharder(stream, {"StreamName": "s"}).update_shard_count(2, "UNIFORM_SCALING")
    assert stream.calls.count("MergeShards") == 2
    assert stream.calls.count("SplitShard") == 0


def test_ranges_that_are_not_uniform_become_uniform() -> None:
    stream = ShardModel([(0, 10), (11, HASH_SPACE // 3), (HASH_SPACE // 3 + 1, HASH_SPACE - 1)])
    Resharder(stream, {"StreamName": "s"}).update_shard_count(2, "UNIFORM_SCALING")
    assert stream.open_ranges() == uniform(2)


@pytest.mark.parametrize(
    ("target", "scaling", "code", "words"),
    [
        (5, "UNIFORM_SCALING", "LimitExceededException", "more than double the current open shard count 2"),
        (1, "UNIFORM_SCALING", "LimitExceededException", None),
        (0, "UNIFORM_SCALING", "ValidationException", "TargetShardCount must be an integer >= 1"),
        ("3", "UNIFORM_SCALING", "ValidationException", "TargetShardCount"),
        (3, "BY_HAND", "ValidationException", "ScalingType"),
    ],
)
def test_what_aws_refuses_is_refused_before_any_change(target: Any, scaling: str, code: str, words: str | None) -> None:
    stream = ShardModel(uniform(2) if target != 1 else uniform(3))
    with pytest.raises(ReshardError) as refused:
        Resharder(stream, {"StreamName": "s"}).update_shard_count(target, scaling)
    assert refused.value.code == code
    if words:
        assert words in str(refused.value)
    assert "SplitShard" not in stream.calls
    assert "MergeShards" not in stream.calls
