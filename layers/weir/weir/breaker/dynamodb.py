"""The breaker's state as an item of a DynamoDB table (the template's BreakerTable)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from weir.breaker.state import Status


class DynamoDBStore:
    """The breaker's status as one item (``id``) of a DynamoDB table; conditional writes by version."""

    def __init__(self, client: Any, table: str, breaker_id: str) -> None:
        self._client = client
        self._table = table
        self._key = {"id": {"S": breaker_id}}
        self._failures_key = {"id": {"S": f"{breaker_id}#failures"}}

    def add_failure(self, now: float, window_seconds: float) -> int:
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=self._failures_key,
                UpdateExpression="ADD #count :one",
                ConditionExpression="started >= :oldest",
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":oldest": {"N": repr(now - window_seconds)}},
                ReturnValues="UPDATED_NEW",
            )
            return int(answer["Attributes"]["count"]["N"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
        # No run, or one that lapsed: this failure starts one (a concurrent start may lose a count).
        self._client.put_item(
            TableName=self._table,
            Item={**self._failures_key, "count": {"N": "1"}, "started": {"N": repr(now)}},
        )
        return 1

    def reset_failures(self) -> None:
        self._client.delete_item(TableName=self._table, Key=self._failures_key)

    def read(self) -> Status:
        item = self._client.get_item(TableName=self._table, Key=self._key, ConsistentRead=True).get("Item")
        if not item:
            return Status()
        return Status.from_item({name: _plain(value) for name, value in item.items()})

    def replace(self, expected: Status, new: Status) -> bool:
        item = {**self._key, **{name: _typed(value) for name, value in new.to_item().items()}}
        try:
            if expected.version == 0:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(id) OR version = :v",
                    ExpressionAttributeValues={":v": {"N": "0"}},
                )
            else:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="version = :v",
                    ExpressionAttributeValues={":v": {"N": str(expected.version)}},
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _typed(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    return {"S": str(value)}


def _plain(value: dict[str, Any]) -> Any:
    if "BOOL" in value:
        return value["BOOL"]
    if "N" in value:
        number = value["N"]
        return float(number) if any(c in number for c in ".eE") else int(number)
    return value.get("S")
