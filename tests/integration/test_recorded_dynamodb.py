"""The local DynamoDB answers as AWS did (tests/fixtures/aws-recorded/dynamodb-api.json): transactions,
PartiQL statements, and a failed condition's error, field for field; and a transaction is all or nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.aws_helpers import create_table
from tests.endpoint import LocalEndpoint
from tests.recorded import differences, load

pytestmark = pytest.mark.integration

RECORDED = load("dynamodb-api.json")


@pytest.fixture
def dynamodb(local_aws: LocalEndpoint) -> Any:
    return boto3.client("dynamodb", endpoint_url=local_aws.url)


@pytest.fixture
def new_table(dynamodb: Any, local_aws: LocalEndpoint) -> Callable[..., str]:
    def create(key: str = "id", **extra: Any) -> str:
        name = local_aws.unique("table")
        create_table(
            dynamodb,
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            **extra,
        )
        return name

    return create


def _error_response(error: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    response: dict[str, Any] = dict(error.value.response)
    response["ResponseMetadata"] = {"HTTPHeaders": {}, "HTTPStatusCode": response["ResponseMetadata"]["HTTPStatusCode"]}
    return response


def _ok(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"} | {
        "ResponseMetadata": {"HTTPHeaders": {}, "HTTPStatusCode": response["ResponseMetadata"]["HTTPStatusCode"]}
    }


def test_a_failed_condition_answers_as_aws_with_the_old_item(dynamodb: Any, new_table: Callable[..., str]) -> None:
    table = new_table()
    item = {"id": {"S": "456"}, "price": {"N": "650"}, "product": {"S": "sporting goods"}}
    dynamodb.put_item(TableName=table, Item=item)
    with pytest.raises(ClientError) as error:
        dynamodb.delete_item(
            TableName=table,
            Key={"id": {"S": "456"}},
            ConditionExpression="price between :lo and :hi",
            ExpressionAttributeValues={":lo": {"N": "500"}, ":hi": {"N": "600"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    recorded = RECORDED["test_return_values_on_conditions_check_failure"]["recorded"]["items"]
    assert differences(recorded, _error_response(error)) == []


def test_a_cancelled_transaction_writes_nothing_and_names_each_reason(
    dynamodb: Any, new_table: Callable[..., str]
) -> None:
    # GIVEN an item Fred, and a transaction whose first action's condition fails on it
    table = new_table("Username")
    dynamodb.put_item(TableName=table, Item={"Username": {"S": "Fred"}})
    with pytest.raises(ClientError) as error:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "ConditionExpression": "attribute_not_exists(Username)",
                        "Key": {"Username": {"S": "Fred"}},
                    }
                },
                {"Delete": {"TableName": table, "Key": {"Username": {"S": "Bert"}}}},
            ]
        )
    # THEN it is cancelled as AWS cancels it
    assert str(error.value) == RECORDED["test_transaction_write_canceled"]["recorded"]["Error"]
    reasons = error.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["ConditionalCheckFailed", "None"]
    # AND a Put after a failing condition is not written either
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"Username": {"S": "Alice"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"Username": {"S": "Fred"}},
                        "UpdateExpression": "SET age = :a",
                        "ConditionExpression": "attribute_exists(age)",
                        "ExpressionAttributeValues": {":a": {"N": "3"}},
                    }
                },
            ]
        )
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"Username": {"S": "Alice"}})
    assert dynamodb.get_item(TableName=table, Key={"Username": {"S": "Fred"}})["Item"] == {"Username": {"S": "Fred"}}


def test_a_transaction_writes_every_action_as_aws_answers(dynamodb: Any, new_table: Callable[..., str]) -> None:
    table = new_table()
    response = dynamodb.transact_write_items(
        TransactItems=[
            {
                "ConditionCheck": {
                    "TableName": table,
                    "ConditionExpression": "attribute_not_exists(id)",
                    "Key": {"id": {"S": "test1"}},
                }
            },
            {"Put": {"TableName": table, "Item": {"id": {"S": "test2"}}}},
            {
                "Update": {
                    "TableName": table,
                    "Key": {"id": {"S": "test3"}},
                    "UpdateExpression": "SET attr1 = :v1, attr2 = :v2",
                    "ExpressionAttributeValues": {":v1": {"S": "value1"}, ":v2": {"S": "value2"}},
                }
            },
            {"Delete": {"TableName": table, "Key": {"id": {"S": "test4"}}}},
        ]
    )
    assert differences(RECORDED["test_transaction_write_items"]["recorded"]["Response"], _ok(response)) == []
    items = {i["id"]["S"]: i for i in dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]}
    assert items == {
        "test2": {"id": {"S": "test2"}},
        "test3": {"id": {"S": "test3"}, "attr1": {"S": "value1"}, "attr2": {"S": "value2"}},
    }
    # two actions on one item are refused whole
    with pytest.raises(ClientError) as twice:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"id": {"S": "x"}}}},
                {"Delete": {"TableName": table, "Key": {"id": {"S": "x"}}}},
            ]
        )
    assert twice.value.response["Error"]["Code"] == "ValidationException"


def test_a_client_request_token_writes_once(dynamodb: Any, new_table: Callable[..., str]) -> None:
    table = new_table()
    put = [
        {
            "Update": {
                "TableName": table,
                "Key": {"id": {"S": "counter"}},
                "UpdateExpression": "ADD hits :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        }
    ]
    for _ in range(3):
        dynamodb.transact_write_items(TransactItems=put, ClientRequestToken="token-1")
    assert dynamodb.get_item(TableName=table, Key={"id": {"S": "counter"}})["Item"]["hits"] == {"N": "1"}
    other = [{"Update": put[0]["Update"] | {"ExpressionAttributeValues": {":one": {"N": "5"}}}}]
    with pytest.raises(ClientError) as mismatch:  # the same token with other actions
        dynamodb.transact_write_items(TransactItems=other, ClientRequestToken="token-1")
    assert mismatch.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert dynamodb.get_item(TableName=table, Key={"id": {"S": "counter"}})["Item"]["hits"] == {"N": "1"}


def test_transact_get_items_by_name_and_by_arn(dynamodb: Any, new_table: Callable[..., str]) -> None:
    recorded = RECORDED["test_transact_get_items"]["recorded"]
    table = new_table()
    dynamodb.put_item(TableName=table, Item={"id": {"S": "John"}})
    by_name = dynamodb.transact_get_items(TransactItems=[{"Get": {"Key": {"id": {"S": "John"}}, "TableName": table}}])
    assert differences(recorded["TransactGetItems"], _ok(by_name)) == []
    other = new_table()
    arn = dynamodb.describe_table(TableName=other)["Table"]["TableArn"]
    dynamodb.put_item(TableName=other, Item={"id": {"S": "Sarah"}})
    by_arn = dynamodb.transact_get_items(TransactItems=[{"Get": {"Key": {"id": {"S": "Sarah"}}, "TableName": arn}}])
    assert differences(recorded["TransactGetItems-with-TableArn"], _ok(by_arn)) == []


def test_partiql_statements_answer_as_aws(dynamodb: Any, new_table: Callable[..., str]) -> None:
    # ExecuteTransaction of two INSERTs with literal values
    table = new_table("Username")
    executed = dynamodb.execute_transaction(
        TransactStatements=[
            {"Statement": f"INSERT INTO {table} VALUE {{'Username': 'user01'}}"},
            {"Statement": f"INSERT INTO {table} VALUE {{'Username': 'user02'}}"},
        ]
    )
    recorded = RECORDED["test_dynamodb_execute_transaction"]["recorded"]
    assert differences(recorded["ExecutedTransaction"], _ok(executed)) == []
    scanned = dynamodb.scan(TableName=table)
    scanned["Items"].sort(key=lambda item: item["Username"]["S"])
    assert differences(recorded["TableScan"], _ok(scanned)) == []
    # BatchExecuteStatement of an INSERT and an UPDATE with a number
    other = new_table("Username")
    dynamodb.put_item(TableName=other, Item={"Username": {"S": "user02"}})
    batch = dynamodb.batch_execute_statement(
        Statements=[
            {"Statement": f"INSERT INTO {other} VALUE {{'Username': 'user01'}}"},
            {"Statement": f"UPDATE {other} SET Age=20 WHERE Username='user02'"},
        ]
    )
    recorded = RECORDED["test_dynamodb_batch_execute_statement"]["recorded"]
    assert differences(recorded["ExecutedStatement"], _ok(batch)) == []
    for user, name in (("user02", "ItemUser2"), ("user01", "ItemUser1")):
        item = dynamodb.get_item(TableName=other, Key={"Username": {"S": user}})["Item"]
        assert differences(recorded[name], item) == []
    # ExecuteStatement: a SELECT by key, a write, and an empty Parameters list refused as AWS refuses it
    found = dynamodb.execute_statement(
        Statement=f"SELECT * FROM {other} WHERE Username=?", Parameters=[{"S": "user02"}]
    )
    assert found["Items"] == [{"Username": {"S": "user02"}, "Age": {"N": "20"}}]
    assert dynamodb.execute_statement(Statement=f"DELETE FROM {other} WHERE Username='user01'")["Items"] == []
    missing = dynamodb.execute_statement(Statement=f"SELECT * FROM {other} WHERE Age IS MISSING")["Items"]
    assert missing == []
    unchecked = boto3.client(
        "dynamodb", endpoint_url=dynamodb.meta.endpoint_url, config=Config(parameter_validation=False)
    )
    with pytest.raises(ClientError) as empty:
        unchecked.execute_statement(Statement=f"SELECT * FROM {other}", Parameters=[])
    recorded_error = RECORDED["test_dynamodb_execute_statement_empy_parameter"]["recorded"]["invalid-param-error"]
    assert differences(recorded_error, _error_response(empty)) == []


def test_a_transaction_on_a_table_with_a_stream_records_each_write_once(
    dynamodb: Any, new_table: Callable[..., str], local_aws: LocalEndpoint
) -> None:
    table = new_table(StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"id": {"S": "a"}}}},
            {"Put": {"TableName": table, "Item": {"id": {"S": "b"}}}},
        ]
    )
    with pytest.raises(ClientError):  # cancelled: nothing in the stream
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"id": {"S": "c"}}}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"id": {"S": "a"}},
                        "ConditionExpression": "attribute_not_exists(id)",
                    }
                },
            ]
        )
    streams = boto3.client("dynamodbstreams", endpoint_url=local_aws.url)
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["id"]["S"]) for r in records] == [("INSERT", "a"), ("INSERT", "b")]
