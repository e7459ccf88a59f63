"""UpdateShardCount through the local gateway on kinesalite (local/kinesis/reshard.py): the AWS wire format,
the lineage, and what AWS refuses."""

from __future__ import annotations

import threading

import boto3
import pytest
from botocore.exceptions import ClientError

from local.kinesis.reshard import uniform_starts
from tests.aws_helpers import open_shards
from tests.endpoint import LocalEndpoint

pytestmark = pytest.mark.integration


def test_doubling_splits_each_shard_and_halving_merges_them_back(local_aws: LocalEndpoint) -> None:
    kinesis = boto3.client("kinesis", endpoint_url=local_aws.url)
    stream = local_aws.unique("scaled")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 30})

    answer = kinesis.update_shard_count(StreamName=stream, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    assert (answer["StreamName"], answer["CurrentShardCount"], answer["TargetShardCount"]) == (stream, 2, 4)
    assert kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"
    opened = open_shards(kinesis, stream)
    assert [int(s["HashKeyRange"]["StartingHashKey"]) for s in opened] == uniform_starts(4)
    assert all("ParentShardId" in s for s in opened)  # children of the two first shards

    kinesis.update_shard_count(StreamName=stream, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    merged = [s for s in kinesis.list_shards(StreamName=stream)["Shards"] if "AdjacentParentShardId" in s]
    assert len(merged) == 2
    assert kinesis.put_record(StreamName=stream, Data=b"x", PartitionKey="k")["ShardId"] in {
        s["ShardId"] for s in merged
    }


def test_a_target_past_the_limits_is_refused_and_nothing_changes(local_aws: LocalEndpoint) -> None:
    kinesis = boto3.client("kinesis", endpoint_url=local_aws.url)
    stream = local_aws.unique("limits")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    with pytest.raises(ClientError) as refused:
        kinesis.update_shard_count(StreamName=stream, TargetShardCount=5, ScalingType="UNIFORM_SCALING")
    assert refused.value.response["Error"]["Code"] == "LimitExceededException"
    assert "more than double" in refused.value.response["Error"]["Message"]
    assert len(kinesis.list_shards(StreamName=stream)["Shards"]) == 2


def test_a_second_scaling_while_one_runs_is_refused(local_aws: LocalEndpoint) -> None:
    kinesis = boto3.client("kinesis", endpoint_url=local_aws.url)
    stream = local_aws.unique("busy")
    kinesis.create_stream(StreamName=stream, ShardCount=8)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    outcomes: list[str] = []

    def scale() -> None:
        try:
            kinesis.update_shard_count(StreamName=stream, TargetShardCount=16, ScalingType="UNIFORM_SCALING")
            outcomes.append("scaled")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=scale) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["ResourceInUseException", "scaled"]
