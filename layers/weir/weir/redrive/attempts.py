"""How often each record was put back on the stream by a redrive (DynamoDB, atomic ADD, TTL)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from weir.origin import envelope_of
from weir.producer import Record


def record_identity(record: Record) -> str:
    """The event_id when the data is an envelope, else a hash of the record's bytes."""
    envelope = envelope_of(record.data)
    if envelope is not None:
        return f"event#{envelope['event_id']}"
    digest = hashlib.sha256(record.partition_key.encode() + b"\x00" + record.data).hexdigest()
    return f"sha256#{digest}"


class AttemptCounter:
    def __init__(self, dynamodb: Any, table: str, ttl_seconds: int = 30 * 24 * 3600) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._ttl = ttl_seconds

    def put_back(self, identity: str) -> int:
        """Count one re-put of the record; the new count."""
        response = self._dynamodb.update_item(
            TableName=self._table,
            Key={"id": {"S": identity}},
            UpdateExpression="ADD attempts :one SET expiration = :ttl",
            ExpressionAttributeValues={":one": {"N": "1"}, ":ttl": {"N": str(int(time.time()) + self._ttl)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["attempts"]["N"])

    def count(self, identity: str) -> int:
        """How often the record has been put back so far."""
        item = self._dynamodb.get_item(TableName=self._table, Key={"id": {"S": identity}}, ConsistentRead=True)
        found = item.get("Item")
        return int(found["attempts"]["N"]) if found else 0
