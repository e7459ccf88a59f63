"""A table's DynamoDB stream on the local endpoint: one record per write that changed an item, in the
order written, shaped as AWS records them (tests/fixtures/aws-recorded/dynamodb-streams.json), read
through the DynamoDB Streams API as an event source mapping reads it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.aws_helpers import create_table
from tests.endpoint import LocalEndpoint

pytestmark = pytest.mark.integration

RECORDED = json.loads((Path(__file__).parents[1] / "fixtures" / "aws-recorded" / "dynamodb-streams.json").read_text())


def make_table(local_aws: LocalEndpoint, view: Any = "NEW_IMAGE", key: str = "id") -> tuple[Any, str, str]:
    dynamodb = boto3.client("dynamodb", endpoint_url=local_aws.url)
    name = local_aws.unique("streamed")
    created = create_table(
        dynamodb,
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )["TableDescription"]
    return dynamodb, name, created["LatestStreamArn"]


def read_all(local_aws: LocalEndpoint, stream_arn: str) -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams", endpoint_url=local_aws.url)
    [shard] = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    while True:
        page = streams.get_records(ShardIterator=iterator)
        records.extend(page["Records"])
        if not page["Records"]:
            return records
        iterator = page["NextShardIterator"]


def test_the_table_describes_its_stream(local_aws: LocalEndpoint) -> None:
    dynamodb, name, arn = make_table(local_aws)
    table = dynamodb.describe_table(TableName=name)["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert table["LatestStreamArn"] == arn
    assert arn.startswith(f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}/stream/")
    listed = boto3.client("dynamodbstreams", endpoint_url=local_aws.url).list_streams(TableName=name)["Streams"]
    assert [s["StreamArn"] for s in listed] == [arn]


def test_a_new_item_is_one_insert_shaped_as_aws_records_it(local_aws: LocalEndpoint) -> None:
    dynamodb, name, arn = make_table(local_aws)
    dynamodb.put_item(TableName=name, Item={"my_partition_key": {"S": "x"}, "id": {"S": "hello world"}})
    [record] = read_all(local_aws, arn)
    [recorded] = RECORDED["scenarios"]["test_dynamodb_event_source_mapping"]["recorded"]["Records"]
    assert set(record) == set(recorded) - {"eventSourceARN"}  # the mapping adds the ARN to the event
    assert {k: record[k] for k in ("eventName", "eventVersion", "eventSource")} == {
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
    }
    assert set(record["dynamodb"]) == set(recorded["dynamodb"])
    assert record["dynamodb"]["Keys"] == {"id": {"S": "hello world"}}
    assert record["dynamodb"]["NewImage"] == {"my_partition_key": {"S": "x"}, "id": {"S": "hello world"}}


SIZED = ["test_dynamodb_event_source_mapping", "test_dynamodb_event_filter[content_or_filter]"]


@pytest.mark.parametrize("scenario", SIZED)
def test_size_bytes_is_the_keys_and_the_images_as_aws_counts_them(local_aws: LocalEndpoint, scenario: str) -> None:
    # GIVEN the recorded table's key and view, and the recorded items put in that order
    recorded = RECORDED["scenarios"][scenario]["recorded"]
    events = recorded if isinstance(recorded, list) else [recorded]
    first = events[0]["Records"][0]["dynamodb"]
    [key] = first["Keys"]
    dynamodb, name, arn = make_table(local_aws, first["StreamViewType"], key)
    for event in events:
        image = event["Records"][0]["dynamodb"]["NewImage"]
        dynamodb.put_item(
            TableName=name, Item={k: {"B": base64.b64decode(v["B"])} if "B" in v else v for k, v in image.items()}
        )
    # THEN each record has the recorded event name and size
    got = read_all(local_aws, arn)
    assert [(r["eventName"], r["dynamodb"]["SizeBytes"]) for r in got] == [
        (e["Records"][0]["eventName"], e["Records"][0]["dynamodb"]["SizeBytes"]) for e in events
    ]


def test_only_writes_that_change_an_item_are_records_in_the_order_written(local_aws: LocalEndpoint) -> None:
    from botocore.exceptions import ClientError

    dynamodb, name, arn = make_table(local_aws, "NEW_AND_OLD_IMAGES")
    first_copy = {"ConditionExpression": "attribute_not_exists(id)"}
    dynamodb.put_item(TableName=name, Item={"id": {"S": "a"}, "n": {"N": "1"}}, **first_copy)
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):  # a duplicate: nothing written
        dynamodb.put_item(TableName=name, Item={"id": {"S": "a"}, "n": {"N": "2"}}, **first_copy)
    dynamodb.put_item(TableName=name, Item={"id": {"S": "a"}, "n": {"N": "1"}})  # the same item: no change
    dynamodb.update_item(
        TableName=name,
        Key={"id": {"S": "a"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "3"}},
    )
    # a PartiQL batch, as the consumer's coalesced writes send it, and a BatchWriteItem
    answer = dynamodb.batch_execute_statement(
        Statements=[
            {"Statement": f"INSERT INTO \"{name}\" VALUE {{'id': ?}}", "Parameters": [{"S": "b"}]},
            {"Statement": f"INSERT INTO \"{name}\" VALUE {{'id': ?}}", "Parameters": [{"S": "a"}]},
        ]
    )
    assert [r.get("Error", {}).get("Code") for r in answer["Responses"]] == [None, "DuplicateItem"]
    dynamodb.batch_write_item(
        RequestItems={
            name: [{"PutRequest": {"Item": {"id": {"S": "c"}}}}, {"DeleteRequest": {"Key": {"id": {"S": "b"}}}}]
        }
    )
    dynamodb.delete_item(TableName=name, Key={"id": {"S": "a"}})
    records = read_all(local_aws, arn)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["id"]["S"]) for r in records] == [
        ("INSERT", "a"),
        ("MODIFY", "a"),
        ("INSERT", "b"),
        ("INSERT", "c"),
        ("REMOVE", "b"),
        ("REMOVE", "a"),
    ]
    modify = records[1]["dynamodb"]
    assert (modify["OldImage"]["n"], modify["NewImage"]["n"]) == ({"N": "1"}, {"N": "3"})
    sequence = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert sequence == sorted(sequence)
    # and the writes answered as their callers asked: no item attributes nobody asked for
    assert "Attributes" not in dynamodb.put_item(TableName=name, Item={"id": {"S": "d"}})


def test_a_reader_resumes_after_the_last_record_it_read(local_aws: LocalEndpoint) -> None:
    dynamodb, name, arn = make_table(local_aws)
    for key in "abc":
        dynamodb.put_item(TableName=name, Item={"id": {"S": key}})
    first, *_ = read_all(local_aws, arn)
    streams = boto3.client("dynamodbstreams", endpoint_url=local_aws.url)
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    after = streams.get_shard_iterator(
        StreamArn=arn,
        ShardId=shard["ShardId"],
        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
        SequenceNumber=first["dynamodb"]["SequenceNumber"],
    )["ShardIterator"]
    rest = streams.get_records(ShardIterator=after)["Records"]
    assert [r["dynamodb"]["Keys"]["id"]["S"] for r in rest] == ["b", "c"]
