"""The test bed places records on shards as Kinesis does, by its own code (local/kinesis/shards.py),
checked against the shard kinesalite reports for each record it wrote: by partition key, by explicit
hash key, and on the uneven ranges a split leaves."""

from __future__ import annotations

import random
from typing import Any

import boto3
import pytest

from local.kinesis.shards import open_shards, owner, placement_key
from tests.aws_helpers import wait_active
from tests.endpoint import LocalEndpoint

pytestmark = pytest.mark.integration


def _placed(kinesis: Any, stream: str, records: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    """(the test bed's shard, kinesalite's shard) for each record written."""
    shards = open_shards(kinesis.list_shards(StreamName=stream)["Shards"])
    answer = kinesis.put_records(StreamName=stream, Records=records)
    assert answer["FailedRecordCount"] == 0
    found = []
    for record, result in zip(records, answer["Records"], strict=True):
        shard = owner(shards, placement_key(record["PartitionKey"], record.get("ExplicitHashKey")))
        found.append((shard.shard_id if shard else None, result["ShardId"]))
    return found


def test_every_record_is_placed_on_the_shard_kinesis_writes_it_to(local_aws: LocalEndpoint) -> None:
    local_aws.set_limits(enabled=False)
    kinesis = boto3.client("kinesis", endpoint_url=local_aws.url)
    stream = local_aws.unique("placement")
    kinesis.create_stream(StreamName=stream, ShardCount=4)
    wait_active(kinesis, stream)
    rng = random.Random(7)
    by_key = [{"Data": b"x", "PartitionKey": f"key-{rng.random()}-é"} for _ in range(400)]
    by_hash = [
        {"Data": b"x", "PartitionKey": "ignored", "ExplicitHashKey": str(rng.randrange(2**128))} for _ in range(100)
    ]
    placed = _placed(kinesis, stream, by_key) + _placed(kinesis, stream, by_hash)
    assert [ours for ours, _ in placed] == [theirs for _, theirs in placed]
    assert len({theirs for _, theirs in placed}) == 4
    # after a split, on the uneven ranges it leaves, and with the parent closed
    first = kinesis.list_shards(StreamName=stream)["Shards"][0]
    middle = (int(first["HashKeyRange"]["StartingHashKey"]) + int(first["HashKeyRange"]["EndingHashKey"])) // 3
    kinesis.split_shard(StreamName=stream, ShardToSplit=first["ShardId"], NewStartingHashKey=str(middle))
    wait_active(kinesis, stream)
    placed = _placed(kinesis, stream, by_key[:300])
    assert [ours for ours, _ in placed] == [theirs for _, theirs in placed]
    assert first["ShardId"] not in {theirs for _, theirs in placed}
