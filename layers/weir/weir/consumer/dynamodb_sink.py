"""Weir's own sink: one item per event in the events table, the first copy kept.

It is idempotent by itself: the put is conditioned on ``attribute_not_exists(event_id)``, so a
second store of an event, however it came (the same batch again, a producer's retry with a new
sequence number, a redriven copy, a copy on a child shard, two lanes at once), fails that condition
and leaves the first copy. So the consumer calls it with no idempotency record of its own: one
write per event, first delivery or duplicate (docs/consumer.md).
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from weir.payloads import TypedEvent
from weir.texts import iso_millis

KEY = "event_id"
# The events table's TTL attribute (template.yaml, EventsTable; EventsRetentionDays).
EXPIRES_AT = "expires_at"
# The breaker's probe writes nothing: a put whose condition can never hold.
PROBE_KEY = "__weir_breaker_probe__"


class DynamoDBEventSink:
    """Writes one item per event, keyed on ``event_id``: the envelope as it travelled, ``stored_at``,
    where the consumer read it (``stream_shard_id``, ``stream_sequence_number`` and, for an event of an
    aggregated record, ``stream_sub_sequence_number``: what ``make trace`` answers with), and
    ``expires_at`` when the events are kept for ``retention_seconds`` (None: kept for ever)."""

    KEY = KEY
    idempotent = True

    def __init__(self, client: Any, table_name: str, retention_seconds: int | None = None) -> None:
        self._client = client
        self._table = table_name
        self._retention = retention_seconds

    def item(self, event: TypedEvent[Any]) -> dict[str, Any]:
        """The event's item, as it is written (what the capacity planner sizes too)."""
        from boto3.dynamodb.types import TypeSerializer

        # DynamoDB numbers are decimals; floats in a payload round-trip through JSON as Decimal.
        item = json.loads(json.dumps(event.envelope.to_document()), parse_float=Decimal)
        item["stored_at"] = iso_millis()
        if event.position is not None:
            item["stream_shard_id"] = event.position.shard_id
            item["stream_sequence_number"] = event.position.sequence_number
            if event.position.sub_sequence_number is not None:
                item["stream_sub_sequence_number"] = event.position.sub_sequence_number
        if self._retention is not None:
            item[EXPIRES_AT] = int(time.time()) + self._retention
        serializer = TypeSerializer()
        return {k: serializer.serialize(v) for k, v in item.items()}

    def store(self, event: TypedEvent[Any]) -> bool:
        """True when this call stored the event, False when it was already there."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self.item(event),
                ConditionExpression=f"attribute_not_exists({KEY})",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def probe(self) -> bool:
        """The write path, writing nothing: a healthy table answers ConditionalCheckFailedException
        (the write path ran); a throttled or failing one answers its error."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={KEY: {"S": PROBE_KEY}},
                ConditionExpression=f"attribute_exists({KEY}) AND attribute_not_exists({KEY})",
            )
        except ClientError as exc:
            return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
        except BotoCoreError:
            return False
        return True  # cannot happen with that condition; a written probe item still means a healthy table
