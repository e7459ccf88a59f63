"""Weir's own sink: one item per event in the events table, the first copy kept."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from weir.texts import iso_millis


class DynamoDBEventSink:
    """Writes one item per event, keyed on ``event_id``; a second write of the same id is a no-op."""

    KEY = "event_id"

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def store(self, event: dict[str, Any]) -> bool:
        """True when this call stored the event, False when it was already there."""
        from boto3.dynamodb.types import TypeSerializer

        # DynamoDB numbers are decimals; floats in a payload round-trip through JSON as Decimal.
        item = json.loads(json.dumps(event), parse_float=Decimal)
        item["stored_at"] = iso_millis()
        serializer = TypeSerializer()
        try:
            self._client.put_item(
                TableName=self._table,
                Item={k: serializer.serialize(v) for k, v in item.items()},
                ConditionExpression="attribute_not_exists(event_id)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
