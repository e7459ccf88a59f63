"""The benchmark yardstick (load/standin.py) answers what the consumer sends and counts it truly."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from load.bench_consumer import _standin


@pytest.fixture
def standin() -> Iterator[tuple[Any, Callable[[], dict[str, int]]]]:
    saved = dict(os.environ)
    try:
        with _standin(latency_ms=0, hash_keys={"kept": "id"}) as calls:
            client = boto3.client(
                "dynamodb",
                endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"],
                region_name="us-east-1",
                aws_access_key_id="test",
                aws_secret_access_key="test",
                config=Config(retries={"total_max_attempts": 1}),
            )
            yield client, calls
    finally:
        # _standin points the benchmark's variables at itself; leave the environment as found.
        os.environ.clear()
        os.environ.update(saved)


def test_counts_each_call_by_operation(standin: tuple[Any, Callable[[], dict[str, int]]]) -> None:
    client, calls = standin
    for _ in range(3):
        client.put_item(TableName="t", Item={"id": {"S": "a"}}, ConditionExpression="attribute_not_exists(id)")
    client.update_item(
        TableName="t",
        Key={"id": {"S": "a"}},
        UpdateExpression="SET s = :s",
        ExpressionAttributeValues={":s": {"S": "x"}},
    )
    assert calls() == {"PutItem": 3, "UpdateItem": 1}


def test_refuses_an_operation_it_does_not_answer(standin: tuple[Any, Callable[[], dict[str, int]]]) -> None:
    client, calls = standin
    with pytest.raises(ClientError, match="stand-in does not answer 'Query'"):
        client.query(TableName="t", KeyConditionExpression="id = :i", ExpressionAttributeValues={":i": {"S": "a"}})
    assert calls() == {}


def test_a_kept_table_fails_the_conditions_a_duplicate_meets(standin: tuple[Any, Callable[[], dict[str, int]]]) -> None:
    client, calls = standin
    first = {"id": {"S": "a"}, "status": {"S": "INPROGRESS"}}
    client.put_item(
        TableName="kept",
        Item=first,
        ConditionExpression="attribute_not_exists(#i) OR #e < :n",
        ExpressionAttributeNames={"#i": "id", "#e": "expiration"},
        ExpressionAttributeValues={":n": {"N": "1"}},
    )
    client.update_item(
        TableName="kept",
        Key={"id": {"S": "a"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "COMPLETED"}},
    )
    with pytest.raises(ClientError) as failed:
        client.put_item(
            TableName="kept",
            Item={"id": {"S": "a"}, "status": {"S": "INPROGRESS"}},
            ConditionExpression="attribute_not_exists(id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert failed.value.response["Item"] == {"id": {"S": "a"}, "status": {"S": "COMPLETED"}}  # type: ignore[typeddict-item]
    assert client.get_item(TableName="kept", Key={"id": {"S": "a"}})["Item"]["status"] == {"S": "COMPLETED"}

    insert = "INSERT INTO \"kept\" VALUE {'id': ?, 'status': ?}"
    answer = client.batch_execute_statement(
        Statements=[
            {"Statement": insert, "Parameters": [{"S": "a"}, {"S": "INPROGRESS"}]},
            {"Statement": insert, "Parameters": [{"S": "b"}, {"S": "INPROGRESS"}]},
            {"Statement": 'UPDATE "kept" SET "status" = ? WHERE "id" = ?', "Parameters": [{"S": "x"}, {"S": "z"}]},
        ]
    )
    assert [r.get("Error", {}).get("Code") for r in answer["Responses"]] == [
        "DuplicateItem",
        None,
        "ConditionalCheckFailed",
    ]
    # another table keeps nothing: the same put twice succeeds twice
    for _ in range(2):
        client.put_item(TableName="t", Item={"id": {"S": "a"}}, ConditionExpression="attribute_not_exists(id)")
    assert calls() == {"PutItem": 4, "UpdateItem": 1, "GetItem": 1, "BatchExecuteStatement": 1, "Statements": 3}
