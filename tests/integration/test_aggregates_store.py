"""The aggregates consumer's DynamoDB writes, against the local DynamoDB: a claim is taken once per
event id and taken again only by the same record; a window segment is added once per type."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from tests.endpoint import LocalEndpoint
from weir.aggregates.claims import DynamoDBClaims
from weir.aggregates.store import DynamoDBAggregates, totals
from weir.aggregates.window import Counted, Window
from weir.producer import Record
from weir.redrive.claims import AggregateClaimRelease
from weir.redrive.sources import Item

pytestmark = pytest.mark.integration


@pytest.fixture
def tables(local_aws: LocalEndpoint) -> tuple[Any, str, str]:
    client = boto3.client("dynamodb", endpoint_url=local_aws.url)
    claims, aggregates = local_aws.unique("claims"), local_aws.unique("aggregates")
    client.create_table(
        TableName=claims,
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.create_table(
        TableName=aggregates,
        KeySchema=[{"AttributeName": "window_start", "KeyType": "HASH"}, {"AttributeName": "type", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "window_start", "AttributeType": "S"},
            {"AttributeName": "type", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return client, claims, aggregates


def test_a_claim_is_held_by_its_first_record_and_renewed_by_the_same_one(tables: tuple[Any, str, str]) -> None:
    client, claims_table, _ = tables
    claims = DynamoDBClaims(client, claims_table, ttl_seconds=3600)
    first = [Counted("e1", "t", "s0:1"), Counted("e2", "t", "s0:2")]
    assert claims.claim(first) == {"s0:1", "s0:2"}
    assert claims.claim(first) == {"s0:1", "s0:2"}  # a retried batch
    assert claims.claim([Counted("e1", "t", "s0:9"), Counted("e3", "t", "s0:10")]) == {"s0:10"}
    item = client.get_item(TableName=claims_table, Key={"event_id": {"S": "e1"}})["Item"]
    assert item["owner"] == {"S": "s0:1"}
    assert int(item["expires_at"]["N"]) > 0


def test_a_segment_is_added_to_each_type_once(tables: tuple[Any, str, str]) -> None:
    client, _, aggregates_table = tables
    store = DynamoDBAggregates(client, aggregates_table)
    window = Window("2026-12-02T10:00:00Z", "2026-12-02T10:01:00Z", "shardId-000000000000")
    store.commit(window, {"a.x": 3, "b.y": 1}, "s0:1")
    store.commit(window, {"a.x": 3, "b.y": 1}, "s0:1")  # a retried final invocation
    store.commit(window, {"a.x": 2}, "s1:7")  # another shard's part of the same window
    items = client.scan(TableName=aggregates_table)["Items"]
    assert totals(items) == {"a.x": 5, "b.y": 1}
    item = client.get_item(TableName=aggregates_table, Key={"window_start": {"S": window.start}, "type": {"S": "a.x"}})[
        "Item"
    ]
    assert item["count"] == {"N": "5"}
    assert item["window_end"] == {"S": window.end}
    assert set(item["segments"]["SS"]) == {"s0:1", "s1:7"}


def failure_item(function_arn: str, shard: str, start: int, end: int) -> Item:
    body = {
        "requestContext": {"functionArn": function_arn, "condition": "RetryAttemptsExhausted"},
        "version": "1.0",
        "timestamp": "2026-12-02T10:00:00.000Z",
        "KinesisBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": str(start),
            "endSequenceNumber": str(end),
            "streamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
            "batchSize": end - start + 1,
        },
    }
    return Item("s3-failures", "key", json.dumps(body).encode(), datetime.now(UTC))


def envelope_record(event_id: str) -> Record:
    data = {"event_id": event_id, "type": "t", "occurred_at": "2026-12-02T10:00:00Z", "payload": {}}
    return Record(json.dumps(data).encode(), event_id)


def test_a_redriven_batch_of_the_aggregates_consumer_is_counted_when_it_comes_back(
    tables: tuple[Any, str, str],
) -> None:
    """Its deliveries claimed e1 and e2 and never counted them (every invocation failed); e3 was
    counted by a record outside the batch. The redrive releases e1's and e2's claims only, so their
    copies on the stream are counted and e3's copy is not."""
    client, claims_table, _ = tables
    claims = DynamoDBClaims(client, claims_table, ttl_seconds=3600)
    shard = "shardId-000000000000"
    claims.claim([Counted("e1", "t", f"{shard}:100"), Counted("e2", "t", f"{shard}:101")])
    claims.claim([Counted("e3", "t", f"{shard}:50")])
    release = AggregateClaimRelease(client, claims_table, "weir-aggregate")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:weir-aggregate"
    batch = release.batch_of(failure_item(arn, shard, 100, 102))
    assert batch is not None
    assert release.batch_of(failure_item(arn.replace("aggregate", "process"), shard, 100, 102)) is None
    records = [envelope_record("e1"), envelope_record("e2"), envelope_record("e3")]
    assert release.release(batch, records) == 2
    copies = [
        Counted("e1", "t", f"{shard}:900"),
        Counted("e2", "t", f"{shard}:901"),
        Counted("e3", "t", f"{shard}:902"),
    ]
    assert claims.claim(copies) == {f"{shard}:900", f"{shard}:901"}
    assert release.release(batch, records) == 0  # a second run of the same item releases nothing counted since
