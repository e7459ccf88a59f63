"""Where the consumer stores events: the protocol a sink meets, and Weir's own DynamoDB sink.

A sink is called once per valid event, inside Powertools idempotency, from several threads at once
(one per partition key being handled). It must be safe to call again with the same event: a
repeat after an idempotency record expires, or after a crash between the write and the
idempotency record's completion, has to leave one copy.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Protocol

from botocore.exceptions import ClientError

from weir.texts import iso_millis


class EventSink(Protocol):
    """Where processed events go. Raise for a transient failure; the record is then retried."""

    def store(self, event: dict[str, Any]) -> bool: ...


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


__all__ = ["DynamoDBEventSink", "EventSink"]
