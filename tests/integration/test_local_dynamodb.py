"""The local DynamoDB (dynalite behind the gateway) answers what Weir's code and Powertools rely on,
as DynamoDB does: TTL settings, conditions, the old item on a failed condition, PartiQL batches."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.aws_helpers import create_table
from tests.endpoint import LocalEndpoint

pytestmark = pytest.mark.integration


@pytest.fixture
def table(local_aws: LocalEndpoint) -> tuple[Any, str]:
    # one attempt: botocore's legacy mode retries a throttled DynamoDB call 10 times over about 25 s,
    # and what is checked here is the answer the endpoint gives, not the SDK's retries
    client = boto3.client("dynamodb", endpoint_url=local_aws.url, config=Config(retries={"total_max_attempts": 1}))
    name = local_aws.unique("table")
    create_table(
        client,
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True},
    )
    assert client.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    return client, name


def test_time_to_live_is_kept_and_validated(table: tuple[Any, str]) -> None:
    client, name = table
    assert client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
    answer = client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )
    assert answer["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "expiration"}
    described = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert described == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
    with pytest.raises(ClientError, match="already enabled") as again:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "x"})
    assert again.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as missing:
        client.describe_time_to_live(TableName=name + "-missing")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize("operation", ["put_item", "update_item", "delete_item"])
def test_a_failed_condition_returns_the_old_item_when_asked(table: tuple[Any, str], operation: str) -> None:
    client, name = table
    client.put_item(TableName=name, Item={"id": {"S": "a"}, "status": {"S": "COMPLETED"}})
    key = {"id": {"S": "a"}}
    request: dict[str, Any] = {
        "TableName": name,
        "ConditionExpression": "attribute_not_exists(id)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if operation == "put_item":
        request["Item"] = {"id": {"S": "a"}, "status": {"S": "INPROGRESS"}}
    else:
        request["Key"] = key
    if operation == "update_item":
        request["UpdateExpression"] = "SET #s = :s"
        request["ExpressionAttributeNames"] = {"#s": "status"}
        request["ExpressionAttributeValues"] = {":s": {"S": "INPROGRESS"}}
    with pytest.raises(ClientError) as failed:
        getattr(client, operation)(**request)
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    old_item = dict(failed.value.response).get("Item")  # DynamoDB adds it; botocore's types do not name it
    assert old_item == {"id": {"S": "a"}, "status": {"S": "COMPLETED"}}
    # without the parameter, no item (as DynamoDB); and nothing was changed
    del request["ReturnValuesOnConditionCheckFailure"]
    with pytest.raises(ClientError) as plain:
        getattr(client, operation)(**request)
    assert "Item" not in plain.value.response
    stored = client.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"]
    assert stored == {"id": {"S": "a"}, "status": {"S": "COMPLETED"}}


def test_partiql_batches_and_faults_reach_the_local_dynamodb(table: tuple[Any, str], local_aws: LocalEndpoint) -> None:
    client, name = table
    client.put_item(TableName=name, Item={"id": {"S": "taken"}})
    client.put_item(TableName=name, Item={"id": {"S": "other"}})
    # a batch is not ordered (DynamoDB promises no order; the gateway runs statements side by side):
    # no two statements touch one item, as the coalescer never puts two writes to one item in a round
    answer = client.batch_execute_statement(
        Statements=[
            {
                "Statement": f"INSERT INTO \"{name}\" VALUE {{'id': ?, 'n': ?}}",
                "Parameters": [{"S": "new"}, {"N": "1"}],
            },
            {"Statement": f"INSERT INTO \"{name}\" VALUE {{'id': ?}}", "Parameters": [{"S": "taken"}]},
            {"Statement": f'UPDATE "{name}" SET "n" = ? WHERE "id" = ?', "Parameters": [{"N": "2"}, {"S": "other"}]},
        ]
    )["Responses"]
    assert "Error" not in answer[0]
    assert answer[1]["Error"]["Code"] == "DuplicateItem"
    assert "Error" not in answer[2]
    assert client.get_item(TableName=name, Key={"id": {"S": "new"}})["Item"]["n"] == {"N": "1"}
    assert client.get_item(TableName=name, Key={"id": {"S": "other"}})["Item"]["n"] == {"N": "2"}
    local_aws.add_fault(service="dynamodb", operation="PutItem", error="ProvisionedThroughputExceededException")
    with pytest.raises(ClientError) as throttled:
        client.put_item(TableName=name, Item={"id": {"S": "later"}})
    assert throttled.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert "Item" not in client.get_item(TableName=name, Key={"id": {"S": "later"}})
