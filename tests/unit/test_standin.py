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
        with _standin(latency_ms=0) as calls:
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
