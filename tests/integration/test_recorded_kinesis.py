"""The local Kinesis answers as AWS did (tests/fixtures/aws-recorded/kinesis-api.json): a stream made
without a ShardCount, calls by StreamARN, and the stream-consumer API that enhanced fan-out uses."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.endpoint import LocalEndpoint
from tests.recorded import differences, load

pytestmark = pytest.mark.integration

RECORDED = load("kinesis-api.json")


@pytest.fixture
def kinesis(local_aws: LocalEndpoint) -> Any:
    return boto3.client("kinesis", endpoint_url=local_aws.url)


def _arn(kinesis: Any, name: str) -> str:
    return str(kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"])


def test_a_stream_made_without_a_shard_count_is_on_demand_with_four_shards(
    kinesis: Any, local_aws: LocalEndpoint
) -> None:
    # GIVEN a stream created with its name alone, as an on-demand stream is
    name = local_aws.unique("on-demand")
    kinesis.create_stream(StreamName=name)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    # WHEN it is described
    shards = sorted(kinesis.describe_stream(StreamName=name)["StreamDescription"]["Shards"], key=lambda s: s["ShardId"])
    # THEN its shards are AWS's: four, field for field
    recorded = RECORDED["test_create_stream_without_shard_count"]["recorded"]["Shards"]
    assert differences(recorded, shards) == []
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    # and naming the mode does the same; a ShardCount with it is refused
    other = local_aws.unique("on-demand")
    kinesis.create_stream(StreamName=other, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert len(kinesis.list_shards(StreamName=other)["Shards"]) == 4
    with pytest.raises(ClientError) as refused:
        kinesis.create_stream(
            StreamName=local_aws.unique("x"), ShardCount=2, StreamModeDetails={"StreamMode": "ON_DEMAND"}
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_every_stream_operation_takes_the_stream_arn(kinesis: Any, stream: str) -> None:
    # GIVEN a stream known by its ARN, which is in the stack's account
    arn = _arn(kinesis, stream)
    assert arn == f"arn:aws:kinesis:us-east-1:123456789012:stream/{stream}"
    # WHEN every call names it by that ARN alone
    put = kinesis.put_records(StreamARN=arn, Records=[{"Data": b"by-arn", "PartitionKey": "k"}])
    single = kinesis.put_record(StreamARN=arn, Data=b"by-arn-2", PartitionKey="k")
    kinesis.add_tags_to_stream(StreamARN=arn, Tags={"team": "weir"})
    kinesis.increase_stream_retention_period(StreamARN=arn, RetentionPeriodHours=48)
    shards = kinesis.list_shards(StreamARN=arn)["Shards"]
    shard = single["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamARN=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(StreamARN=arn, ShardIterator=iterator["ShardIterator"])["Records"]
    # THEN each does what it does by name
    assert put["FailedRecordCount"] == 0
    assert len(shards) == 2
    assert [r["Data"] for r in records] == [b"by-arn", b"by-arn-2"]
    assert kinesis.list_tags_for_stream(StreamARN=arn)["Tags"] == [{"Key": "team", "Value": "weir"}]
    assert kinesis.describe_stream_summary(StreamARN=arn)["StreamDescriptionSummary"]["RetentionPeriodHours"] == 48


def test_stream_consumers_are_registered_listed_and_described_as_in_aws(kinesis: Any, stream: str) -> None:
    # GIVEN a stream with no consumer
    arn = _arn(kinesis, stream)
    assert kinesis.list_stream_consumers(StreamARN=arn)["Consumers"] == []
    # WHEN one is registered
    registered = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="consumer")["Consumer"]
    assert registered["ConsumerStatus"] == "CREATING"
    consumer_arn = registered["ConsumerARN"]
    listed = kinesis.list_stream_consumers(StreamARN=arn)["Consumers"]
    described = kinesis.describe_stream_consumer(StreamARN=arn, ConsumerARN=consumer_arn)["ConsumerDescription"]
    # THEN the list and the description are AWS's, field for field
    recorded = RECORDED["test_stream_consumers"]["recorded"]
    assert differences(recorded["One_consumer_by_list_stream"], listed) == []
    assert differences(recorded["One_consumer_by_describe_stream"], described) == []
    assert consumer_arn.startswith(f"{arn}/consumer/consumer:")
    assert kinesis.describe_stream_summary(StreamARN=arn)["StreamDescriptionSummary"]["ConsumerCount"] == 1
    # and a second consumer of that name is refused; deregistered, it is gone
    with pytest.raises(ClientError) as taken:
        kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="consumer")
    assert taken.value.response["Error"]["Code"] == "ResourceInUseException"
    kinesis.deregister_stream_consumer(ConsumerARN=consumer_arn)
    with pytest.raises(ClientError) as gone:
        kinesis.describe_stream_consumer(ConsumerARN=consumer_arn)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_stream_takes_at_most_twenty_consumers(kinesis: Any, stream: str) -> None:
    arn = _arn(kinesis, stream)
    for i in range(20):
        kinesis.register_stream_consumer(StreamARN=arn, ConsumerName=f"c{i}")
    with pytest.raises(ClientError) as refused:
        kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="c20")
    assert refused.value.response["Error"]["Code"] == "LimitExceededException"
    page = kinesis.list_stream_consumers(StreamARN=arn, MaxResults=15)
    rest = kinesis.list_stream_consumers(StreamARN=arn, NextToken=page["NextToken"])
    assert len(page["Consumers"]) + len(rest["Consumers"]) == 20


def test_subscribe_to_shard_pushes_the_records_as_aws_does(kinesis: Any, local_aws: LocalEndpoint) -> None:
    # GIVEN a one-shard stream with a registered consumer, subscribed from TRIM_HORIZON
    name = local_aws.unique("efo")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    consumer = kinesis.register_stream_consumer(StreamARN=_arn(kinesis, name), ConsumerName="c1")["Consumer"]
    shard_id = kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    subscription = kinesis.subscribe_to_shard(
        ConsumerARN=consumer["ConsumerARN"], ShardId=shard_id, StartingPosition={"Type": "TRIM_HORIZON"}
    )
    # WHEN five records are put
    kinesis.put_records(
        StreamName=name, Records=[{"Data": f"Hello world_{i}".encode(), "PartitionKey": "1"} for i in range(5)]
    )
    events, remaining = [], 5
    stream = subscription["EventStream"]
    timer = threading.Timer(20, stream.close)  # a bound on the wait, should nothing arrive
    timer.start()
    try:
        for entry in stream:
            event = entry["SubscribeToShardEvent"]
            if event["Records"]:
                events.append(event)
                remaining -= len(event["Records"])
            if remaining <= 0:
                break
    finally:
        timer.cancel()
        stream.close()
    # THEN they arrive as AWS pushes them (the data as the text AWS's recording shows)
    for event in events:
        for record in event["Records"]:
            record["Data"] = str(record["Data"])
            record.pop("EncryptionType", None)  # LocalStack skips it in this recording
    recorded = RECORDED["test_subscribe_to_shard"]["recorded"]["Events"]
    assert differences(recorded, events) == []
    assert events[-1]["ContinuationSequenceNumber"] == events[-1]["Records"][-1]["SequenceNumber"]
