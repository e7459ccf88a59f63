"""The aggregates table against the local endpoint: a window segment added once; and a failed batch
of the aggregates consumer counted into its window once by the redrive, from an S3 failure object's
payload or read back from the events table's stream for an SQS pointer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from tests.aws_helpers import create_table
from tests.endpoint import LocalEndpoint
from weir.aggregates.store import DynamoDBAggregates, totals
from weir.aggregates.window import Window
from weir.failures import RecordsExpired
from weir.redrive.recount import AggregateRecount
from weir.redrive.sources import Item

pytestmark = pytest.mark.integration

WINDOW = {"start": "2026-12-02T10:00:00Z", "end": "2026-12-02T10:01:00Z"}


@pytest.fixture
def tables(local_aws: LocalEndpoint) -> tuple[Any, str, str, str]:
    client = boto3.client("dynamodb", endpoint_url=local_aws.url)
    events, aggregates = local_aws.unique("events"), local_aws.unique("aggregates")
    stream = create_table(
        client,
        TableName=events,
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    create_table(
        client,
        TableName=aggregates,
        KeySchema=[{"AttributeName": "window_start", "KeyType": "HASH"}, {"AttributeName": "type", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "window_start", "AttributeType": "S"},
            {"AttributeName": "type", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return client, events, aggregates, stream


def test_a_segment_is_added_to_each_type_once(tables: tuple[Any, str, str, str]) -> None:
    client, _, aggregates_table, _ = tables
    store = DynamoDBAggregates(client, aggregates_table)
    window = Window(WINDOW["start"], WINDOW["end"], "shardId-000000000000")
    store.commit(window, {"a.x": 3, "b.y": 1}, "s0:1")
    store.commit(window, {"a.x": 3, "b.y": 1}, "s0:1")  # a retried final invocation
    store.commit(window, {"a.x": 2}, "s1:7")  # another shard's part of the same window
    items = client.scan(TableName=aggregates_table)["Items"]
    assert totals(items) == {"a.x": 5, "b.y": 1}
    key = {"window_start": {"S": window.start}, "type": {"S": "a.x"}}
    item = client.get_item(TableName=aggregates_table, Key=key)["Item"]
    assert item["count"] == {"N": "5"}
    assert item["window_end"] == {"S": window.end}
    assert set(item["segments"]["SS"]) == {"s0:1", "s1:7"}


def stored(client: Any, table: str, event_id: str, type_: str) -> None:
    client.put_item(
        TableName=table,
        Item={"event_id": {"S": event_id}, "type": {"S": type_}},
        ConditionExpression="attribute_not_exists(event_id)",
    )


def changes(local_aws: LocalEndpoint, stream: str) -> tuple[str, list[dict[str, Any]]]:
    streams = boto3.client("dynamodbstreams", endpoint_url=local_aws.url)
    [shard] = streams.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    as_json = json.loads(json.dumps(records, default=lambda d: d.timestamp()))
    return shard["ShardId"], as_json


def failure(stream: str, shard: str, records: list[dict[str, Any]], with_payload: bool) -> Item:
    body: dict[str, Any] = {
        "requestContext": {
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:weir-aggregate",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 6,
        },
        "version": "1.0",
        "timestamp": "2026-12-02T10:00:30.000Z",
        "DDBStreamBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": "2026-12-02T10:00:01.000Z",
            "approximateArrivalOfLastRecord": "2026-12-02T10:00:02.000Z",
            "batchSize": len(records),
            "streamArn": stream,
        },
    }
    if with_payload:
        event = {"Records": [{**r, "eventSourceARN": stream} for r in records], "window": WINDOW, "shardId": shard}
        body["payload"] = json.dumps(event)
    return Item("s3-failures" if with_payload else "sqs-failures", "key", json.dumps(body).encode(), datetime.now(UTC))


@pytest.mark.parametrize("with_payload", [True, False], ids=["s3-payload", "sqs-pointer"])
def test_a_failed_batch_of_the_aggregates_consumer_is_counted_into_its_window_once(
    local_aws: LocalEndpoint, tables: tuple[Any, str, str, str], with_payload: bool
) -> None:
    # GIVEN three stored events whose change records' batch ran out of retries
    client, events, aggregates, stream = tables
    for event_id, type_ in (("e1", "a.x"), ("e2", "a.x"), ("e3", "b.y")):
        stored(client, events, event_id, type_)
    shard, records = changes(local_aws, stream)
    recount = AggregateRecount(
        DynamoDBAggregates(client, aggregates), boto3.client("dynamodbstreams", endpoint_url=local_aws.url), 60
    )
    item = failure(stream, shard, records, with_payload)
    # WHEN the redrive counts it, twice (a run cut short after its commit, then the next run)
    found = recount.failure_of(item)
    assert found is not None
    for _ in range(2):
        assert recount.recount(found, recount.records(found)) == 3
    # THEN each stored event is in the aggregates once
    assert totals(client.scan(TableName=aggregates)["Items"]) == {"a.x": 2, "b.y": 1}


def test_a_pointer_whose_records_left_the_table_s_stream_is_expired(
    local_aws: LocalEndpoint, tables: tuple[Any, str, str, str]
) -> None:
    client, events, aggregates, stream = tables
    stored(client, events, "e1", "a.x")
    shard, records = changes(local_aws, stream)
    records[0]["dynamodb"]["SequenceNumber"] = "999999999999999999999"  # never on the stream
    recount = AggregateRecount(
        DynamoDBAggregates(client, aggregates), boto3.client("dynamodbstreams", endpoint_url=local_aws.url), 60
    )
    found = recount.failure_of(failure(stream, shard, records, with_payload=False))
    assert found is not None
    with pytest.raises(RecordsExpired):
        recount.records(found)


def test_the_first_consumer_s_failure_records_are_not_the_recount_s() -> None:
    kinesis = {
        "requestContext": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:weir-process"},
        "KinesisBatchInfo": {"shardId": "s", "startSequenceNumber": "1", "endSequenceNumber": "2", "streamArn": "a"},
    }
    item = Item("s3-failures", "key", json.dumps(kinesis).encode(), datetime.now(UTC))
    assert AggregateRecount(DynamoDBAggregates(None, "unused"), None, 60).failure_of(item) is None
