"""A Kinesis batch with the KPL's aggregated records opened: one record per user record.

Lambda delivers an aggregated record as it is on the stream, one Kinesis record holding many events
(weir/kpl.py). The consumer opens each one before the batch processor sees the batch, so the user
record is the unit of everything after: validation, idempotency, quarantine, counting and the key
threads (each user record's own partition key). A user record keeps its aggregate's
``sequenceNumber``, and gets its ``subSequenceNumber`` (its index in the aggregate) and
``aggregated: true``, as the KCL and aws-kinesis-agg present user records. So a user record that fails
is reported by its aggregate's sequence number: Lambda delivers the aggregate again from there, and its
siblings already stored are answered by the sink's condition, never stored twice.

An aggregate that cannot be read (bad MD5, a message that does not parse) stays one record: reading
it quarantines it whole, with the reason (weir.consumer.records).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailures

from weir import kpl


def _aggregated(record: dict[str, Any]) -> bytes | None:
    """The record's data when it is an aggregated record, else None."""
    encoded = record.get("kinesis", {}).get("data")
    if not isinstance(encoded, str):
        return None
    try:
        if not kpl.is_aggregated(base64.b64decode(encoded[:8])):  # the magic's 4 bytes, in 8 characters
            return None
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


def open_aggregates(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with each readable aggregated record replaced by its user records, in order."""
    records = event.get("Records")
    if not isinstance(records, list):
        return event
    opened: list[dict[str, Any]] = []
    changed = False
    for record in records:
        data = _aggregated(record) if isinstance(record, dict) else None
        if data is None:
            opened.append(record)
            continue
        try:
            users = kpl.deaggregate(data)
        except kpl.UnreadableAggregate:
            opened.append(record)  # quarantined whole when it is read, with the reason
            continue
        changed = True
        for position, user in enumerate(users):
            kinesis = dict(record["kinesis"])
            kinesis.update(
                partitionKey=user.partition_key,
                data=base64.b64encode(user.data).decode(),
                subSequenceNumber=position,
                aggregated=True,
            )
            if user.explicit_hash_key is not None:
                kinesis["explicitHashKey"] = user.explicit_hash_key
            opened.append({**record, "kinesis": kinesis})
    return {**event, "Records": opened} if changed else event


def without_repeats(failures: list[PartialItemFailures]) -> list[PartialItemFailures]:
    """batchItemFailures naming each sequence number once (user records of one aggregate share it)."""
    seen: set[str] = set()
    kept = []
    for failure in failures:
        identifier = str(failure["itemIdentifier"])  # a Kinesis sequence number
        if identifier not in seen:
            seen.add(identifier)
            kept.append(failure)
    return kept
