"""weir.coalesce against the local endpoint: batched when it can be, and every call ends as the
single call would have."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.aws_helpers import create_table
from tests.endpoint import LocalEndpoint
from weir.coalesce import CoalescingDynamoDB

pytestmark = pytest.mark.integration

NEW_KEY = "attribute_not_exists(#id) OR #expiry < :now"


@pytest.fixture
def table(local_aws: LocalEndpoint) -> tuple[Any, str]:
    client = boto3.client("dynamodb", endpoint_url=local_aws.url)
    name = local_aws.unique("coalesce")
    create_table(
        client,
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client, name


def put(writers: CoalescingDynamoDB, name: str, key: str, status: str = "INPROGRESS") -> dict[str, Any]:
    return writers.put_item(
        TableName=name,
        Item={"id": {"S": key}, "status": {"S": status}, "expiry": {"N": "4102444800"}, "it's": {"S": "quoted"}},
        ConditionExpression=NEW_KEY,
        ExpressionAttributeNames={"#id": "id", "#expiry": "expiry"},
        ExpressionAttributeValues={":now": {"N": "1"}},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )


def in_threads(count: int, writers: CoalescingDynamoDB, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except ClientError as exc:
            results[i] = exc
        finally:
            writers.finished()

    with writers.running(count):
        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    return results


def test_concurrent_new_keys_share_one_call_and_are_all_written(table: tuple[Any, str]) -> None:
    client, name = table
    writers = CoalescingDynamoDB(client, {name: "id"}, linger_seconds=1.0)
    results = in_threads(10, writers, lambda i: put(writers, name, f"k{i}"))
    assert results == [{}] * 10
    assert (writers.stats["batches"], writers.stats["statements"], writers.stats["fallback"]) == (1, 10, 0)
    items = client.scan(TableName=name)["Items"]
    assert sorted(i["id"]["S"] for i in items) == [f"k{i}" for i in range(10)]
    assert all(i["it's"] == {"S": "quoted"} for i in items)


def test_an_existing_key_ends_as_the_single_call_would_condition_and_old_item_included(
    table: tuple[Any, str],
) -> None:
    client, name = table
    writers = CoalescingDynamoDB(client, {name: "id"}, linger_seconds=1.0)
    put(writers, name, "taken", status="COMPLETED")
    results = in_threads(2, writers, lambda i: put(writers, name, ["taken", "free"][i]))
    raised = results[0]
    assert isinstance(raised, ClientError)
    assert raised.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert raised.response["Item"]["status"] == {"S": "COMPLETED"}  # type: ignore[typeddict-item]
    assert results[1] == {}
    assert (writers.stats["batches"], writers.stats["fallback"]) == (1, 1)


def first_copy(writers: CoalescingDynamoDB, name: str, key: str, **extra: Any) -> dict[str, Any]:
    """A first-copy-wins put, as Weir's sink makes: conditioned on exactly attribute_not_exists(key)."""
    return writers.put_item(
        TableName=name,
        Item={"id": {"S": key}, "n": {"N": "1"}},
        ConditionExpression="attribute_not_exists(id)",
        **extra,
    )


def test_a_duplicate_first_copy_put_fails_its_condition_in_its_round_with_no_second_call(
    table: tuple[Any, str],
) -> None:
    # GIVEN a stored item, and a round of first-copy puts: one of them a duplicate
    client, name = table
    client.put_item(TableName=name, Item={"id": {"S": "taken"}, "n": {"N": "0"}})
    writers = CoalescingDynamoDB(client, {name: "id"}, linger_seconds=1.0)
    results = in_threads(3, writers, lambda i: first_copy(writers, name, ["taken", "a", "b"][i]))
    # THEN the duplicate raises what the single call raises, the client's own exception class, and
    # its INSERT's DuplicateItem was the only write it made: one batch, no single call after it
    raised = results[0]
    assert isinstance(raised, client.exceptions.ConditionalCheckFailedException)
    assert raised.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert results[1:] == [{}, {}]
    assert (writers.stats["batches"], writers.stats["condition_failed"], writers.stats["fallback"]) == (1, 1, 0)
    assert client.get_item(TableName=name, Key={"id": {"S": "taken"}})["Item"]["n"] == {"N": "0"}


def test_a_duplicate_that_asks_for_the_old_item_still_gets_it_from_the_single_call(table: tuple[Any, str]) -> None:
    client, name = table
    client.put_item(TableName=name, Item={"id": {"S": "taken"}, "n": {"N": "0"}})
    writers = CoalescingDynamoDB(client, {name: "id"}, linger_seconds=1.0)
    results = in_threads(
        2,
        writers,
        lambda i: first_copy(writers, name, ["taken", "a"][i], ReturnValuesOnConditionCheckFailure="ALL_OLD"),
    )
    raised = results[0]
    assert isinstance(raised, ClientError)
    assert raised.response["Item"]["n"] == {"N": "0"}  # type: ignore[typeddict-item]
    assert writers.stats["fallback"] == 1


def test_a_lone_writer_calls_directly_and_a_duplicate_costs_one_call(table: tuple[Any, str]) -> None:
    """One writing thread (a single hot key, ConsumerKeyConcurrency=1): no one-statement batch, so a
    duplicate delivery's failed condition is one call, not a batch and then the single call."""
    client, name = table
    writers = CoalescingDynamoDB(client, {name: "id"})
    put(writers, name, "taken", status="COMPLETED")
    with pytest.raises(ClientError) as raised:
        put(writers, name, "taken")
    assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert raised.value.response["Item"]["status"] == {"S": "COMPLETED"}  # type: ignore[typeddict-item]
    assert (writers.stats["direct"], writers.stats["batches"], writers.stats["fallback"]) == (2, 0, 0)


def test_updates_are_batched_and_a_missing_item_is_still_created_as_update_item_would(
    table: tuple[Any, str],
) -> None:
    client, name = table
    writers = CoalescingDynamoDB(client, {name: "id"}, linger_seconds=1.0)
    put(writers, name, "present")

    def complete(i: int) -> Any:
        return writers.update_item(
            TableName=name,
            Key={"id": {"S": ["present", "absent"][i]}},
            UpdateExpression="SET #status = :status, #data = :data",
            ExpressionAttributeNames={"#status": "status", "#data": "data"},
            ExpressionAttributeValues={":status": {"S": "COMPLETED"}, ":data": {"S": "{}"}},
        )

    results = in_threads(2, writers, complete)
    assert not [r for r in results if isinstance(r, ClientError)], results
    assert writers.stats["batches"] == 1  # both updates together (the put before them went directly)
    assert writers.stats["fallback"] == 1  # PartiQL UPDATE does not create "absent"; UpdateItem does
    items = {i["id"]["S"]: i for i in client.scan(TableName=name)["Items"]}
    assert items["present"]["status"] == {"S": "COMPLETED"}
    assert items["present"]["expiry"] == {"N": "4102444800"}
    assert items["absent"]["data"] == {"S": "{}"}


def test_a_throttled_statement_becomes_a_throttled_single_call(
    table: tuple[Any, str], local_aws: LocalEndpoint
) -> None:
    client, name = table
    local_aws.add_fault(
        service="dynamodb",
        operation="PutItem",
        error="ProvisionedThroughputExceededException",
        status=400,
        match={"TableName": name},
    )
    once = boto3.client("dynamodb", endpoint_url=local_aws.url, config=Config(retries={"total_max_attempts": 1}))
    writers = CoalescingDynamoDB(once, {name: "id"}, linger_seconds=1.0)
    results = in_threads(2, writers, lambda i: put(writers, name, f"k{i}"))
    assert all(isinstance(r, ClientError) and "ProvisionedThroughputExceeded" in str(r) for r in results), results
    assert (writers.stats["batches"], writers.stats["fallback"]) == (1, 2)
    assert client.scan(TableName=name)["Count"] == 0


def test_what_cannot_be_expressed_goes_straight_to_the_client(table: tuple[Any, str]) -> None:
    client, name = table
    writers = CoalescingDynamoDB(client, {name: "id"})
    writers.put_item(TableName=name, Item={"id": {"S": "plain"}})  # no condition: an overwrite
    writers.put_item(  # a condition other than "new key"
        TableName=name, Item={"id": {"S": "plain"}, "v": {"N": "2"}}, ConditionExpression="attribute_exists(id)"
    )
    writers.update_item(  # not a plain SET
        TableName=name,
        Key={"id": {"S": "plain"}},
        UpdateExpression="ADD n :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    assert writers.stats["batches"] == 0
    item = client.get_item(TableName=name, Key={"id": {"S": "plain"}})["Item"]
    assert (item["v"], item["n"]) == ({"N": "2"}, {"N": "1"})
