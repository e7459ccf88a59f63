"""Kinesis ``UpdateShardCount`` for the local stream: uniform scaling done as ``SplitShard`` and ``MergeShards``.

kinesalite has no ``UpdateShardCount``. AWS does it the same way ("To update the shard count,
Kinesis Data Streams performs splits or merges on individual shards. This can cause short-lived
shards to be created, in addition to the final shards", Kinesis API reference, UpdateShardCount),
so the lineage the consumers follow is the real thing: every target range's start becomes a shard
boundary by splitting the open shard that holds it, then the shards inside one target range are
merged, left to right, into one. The result is ``TargetShardCount`` open shards of equal hash-key
ranges (``UNIFORM_SCALING``, the only scaling type).

Refused as AWS documents its default limits (API reference, ``TargetShardCount``: not "more than
double your current shard count", not "below half"), counted on the open shards, with
``LimitExceededException``; the per-stream limit of scalings per rolling 24 hours is not kept (a
local stream is rehearsed more often than that). Differences: AWS answers at once and scales in
the background; here the answer comes when the scaling is done (the gateway reports the stream
``UPDATING`` meanwhile and refuses a second scaling with ``ResourceInUseException``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

HASH_SPACE = 2**128
SCALING_TYPES = ("UNIFORM_SCALING",)
ACTIVE_WAIT_SECONDS = 30.0

# (operation, params) -> (HTTP status, parsed JSON answer), sent to the Kinesis backend.
KinesisCall = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]


class ReshardError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def _error_code(answer: dict[str, Any]) -> str:
    return str(answer.get("__type", "InternalFailure")).rsplit("#", 1)[-1]


def uniform_starts(count: int) -> list[int]:
    """The first hash key of each of ``count`` equal ranges."""
    return [i * HASH_SPACE // count for i in range(count)]


def _start(shard: dict[str, Any]) -> int:
    return int(shard["HashKeyRange"]["StartingHashKey"])


def _end(shard: dict[str, Any]) -> int:
    return int(shard["HashKeyRange"]["EndingHashKey"])


class Resharder:
    """Runs one ``UpdateShardCount`` on the backend through ``call``; ``stream`` is the request's
    ``StreamName`` or ``StreamARN`` parameter (as given)."""

    def __init__(self, call: KinesisCall, stream: dict[str, str], sleep: Callable[[float], None] = time.sleep) -> None:
        self._call = call
        self._stream = stream
        self._sleep = sleep

    def update_shard_count(self, target: Any, scaling_type: Any) -> dict[str, Any]:
        if scaling_type not in SCALING_TYPES:
            raise ReshardError(
                "ValidationException", f"ScalingType must be one of {list(SCALING_TYPES)}, got {scaling_type!r}"
            )
        if not isinstance(target, int) or isinstance(target, bool) or target < 1:
            raise ReshardError("ValidationException", f"TargetShardCount must be an integer >= 1, got {target!r}")
        shards = self._open_shards()
        current = len(shards)
        if target > 2 * current:
            raise ReshardError(
                "LimitExceededException",
                f"TargetShardCount {target} is more than double the current open shard count {current}",
            )
        if 2 * target < current:
            raise ReshardError(
                "LimitExceededException",
                f"TargetShardCount {target} is below half the current open shard count {current}",
            )
        starts = uniform_starts(target)
        for shard in shards:
            self._split_at_boundaries(shard, starts)
        self._merge_within_ranges(starts)
        return {**self._stream, "CurrentShardCount": current, "TargetShardCount": target}

    # --- steps -------------------------------------------------------------------------

    def _split_at_boundaries(self, shard: dict[str, Any], starts: list[int]) -> None:
        """Split ``shard`` at every target start strictly inside it, lowest first (each split's upper
        child is the next one split)."""
        current = shard
        for boundary in starts:
            if _start(current) < boundary <= _end(current):
                self._do("SplitShard", ShardToSplit=current["ShardId"], NewStartingHashKey=str(boundary))
                current = self._open_starting_at(boundary)

    def _merge_within_ranges(self, starts: list[int]) -> None:
        """Merge the open shards whose start lies in one target range until one covers it."""
        bounds = [*starts[1:], HASH_SPACE]
        for low, high in zip(starts, bounds, strict=True):
            group = [s for s in self._open_shards() if low <= _start(s) < high]
            while len(group) > 1:
                first, second = group[0], group[1]
                self._do("MergeShards", ShardToMerge=first["ShardId"], AdjacentShardToMerge=second["ShardId"])
                group = [self._open_starting_at(_start(first)), *group[2:]]

    # --- the backend -------------------------------------------------------------------

    def _do(self, operation: str, **params: str) -> None:
        status, answer = self._call(operation, {**self._stream, **params})
        if status != 200:
            raise ReshardError(
                _error_code(answer), f"{operation} failed during the scaling: {answer.get('message', answer)}", status
            )
        self._wait_active()

    def _wait_active(self) -> None:
        deadline = time.monotonic() + ACTIVE_WAIT_SECONDS
        while time.monotonic() < deadline:
            status, answer = self._call("DescribeStreamSummary", dict(self._stream))
            if status == 200 and answer["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
                return
            self._sleep(0.02)
        raise ReshardError("InternalFailure", "the stream did not become ACTIVE again", 500)

    def _open_shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        request: dict[str, Any] = dict(self._stream)
        while True:
            status, page = self._call("ListShards", request)
            if status != 200:
                raise ReshardError(_error_code(page), str(page.get("message", page)), status)
            shards.extend(page.get("Shards", []))
            if not page.get("NextToken"):
                break
            request = {"NextToken": page["NextToken"]}
        found = [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
        return sorted(found, key=_start)

    def _open_starting_at(self, start: int) -> dict[str, Any]:
        for shard in self._open_shards():
            if _start(shard) == start:
                return shard
        raise ReshardError("InternalFailure", f"no open shard starts at hash key {start} after the step", 500)
