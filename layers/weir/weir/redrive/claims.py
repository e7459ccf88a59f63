"""Before a failed batch of the aggregates consumer goes back on the stream: release the claims its
records took and never counted (weir.aggregates).

A batch reaches the on-failure destination only when none of its invocations succeeded, so the
window state that counted its records was dropped each time; but each delivery claimed the records'
event ids. Without this, the copies the redrive puts back would find those claims held and never be
counted. A claim is released only if it is still held by a record of that very batch (its shard and
a sequence number in the batch's range): a copy that has since been counted keeps its claim.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from weir.failures import BatchInfo, MalformedFailureRecord, parse_failure_record
from weir.producer import Record
from weir.redrive.sources import Item

FAILURE_SOURCES = frozenset({"s3-failures", "sqs-failures"})


class AggregateClaimRelease:
    def __init__(self, dynamodb: Any, claims_table: str, function_name: str) -> None:
        self._dynamodb = dynamodb
        self._table = claims_table
        self._function = function_name

    def batch_of(self, item: Item) -> BatchInfo | None:
        """The failed batch, if the item is a failure record of the aggregates consumer (None for the
        first consumer's, and for anything else)."""
        if item.source not in FAILURE_SOURCES:
            return None
        try:
            failure = parse_failure_record(item.body)
        except MalformedFailureRecord:
            return None
        return failure.batch if _function_name(failure.function_arn) == self._function else None

    def release(self, batch: BatchInfo, records: list[Record]) -> int:
        """Release the claims of ``records`` still held by the failed ``batch``; how many were released."""
        released = 0
        for record in records:
            event_id = _event_id(record)
            if event_id is None:
                continue
            claim = self._dynamodb.get_item(
                TableName=self._table, Key={"event_id": {"S": event_id}}, ConsistentRead=True
            ).get("Item")
            owner = claim["owner"]["S"] if claim else ""
            shard, _, sequence = owner.rpartition(":")
            if shard != batch.shard_id or not sequence.isdigit() or not batch.contains(sequence):
                continue
            try:
                self._dynamodb.delete_item(
                    TableName=self._table,
                    Key={"event_id": {"S": event_id}},
                    ConditionExpression="#owner = :owner",
                    ExpressionAttributeNames={"#owner": "owner"},
                    ExpressionAttributeValues={":owner": {"S": owner}},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                continue  # taken over meanwhile by a record that counted it
            released += 1
        return released


def _function_name(arn: str) -> str:
    """``arn:aws:lambda:region:account:function:NAME[:QUALIFIER]`` -> NAME."""
    parts = arn.split(":")
    return parts[6] if len(parts) > 6 and parts[5] == "function" else arn


def _event_id(record: Record) -> str | None:
    try:
        event_id = json.loads(record.data)["event_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return event_id if isinstance(event_id, str) else None
