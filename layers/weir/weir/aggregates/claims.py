"""The claims table: each event id claimed by the record that counts it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from weir.aggregates.window import Counted

CLAIM_THREADS = 16


class DynamoDBClaims:
    """Claims as conditional writes, one per record, several at once: ``event_id`` -> ``owner``,
    kept ``ttl_seconds`` (longer than a record can be delivered again)."""

    def __init__(self, client: Any, table: str, ttl_seconds: int, threads: int = CLAIM_THREADS) -> None:
        self._client = client
        self._table = table
        self._ttl = ttl_seconds
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="claims")

    def claim(self, records: list[Counted]) -> set[str]:
        expires = int(time.time()) + self._ttl
        results = self._pool.map(lambda c: self._claim_one(c, expires), records)
        return {owner for owner in results if owner is not None}

    def _claim_one(self, counted: Counted, expires: int) -> str | None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "event_id": {"S": counted.event_id},
                    "owner": {"S": counted.owner},
                    "expires_at": {"N": str(expires)},
                },
                ConditionExpression="attribute_not_exists(event_id) OR #owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": counted.owner}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None  # another record of this event id holds it
            raise
        return counted.owner
