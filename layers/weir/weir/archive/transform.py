"""Firehose's data transformation for the archive: each record, as Firehose read it from the stream,
becomes an archived line (weir.archive.record) carrying its Kinesis metadata.

Firehose invokes it with ``{"records": [{"recordId", "approximateArrivalTimestamp", "data",
"kinesisRecordMetadata": {"shardId", "partitionKey", "sequenceNumber", "subsequenceNumber",
"approximateArrivalTimestamp"}}]}`` and takes back ``{"records": [{"recordId", "result", "data"}]}``,
one per record, in any order (Firehose developer guide, "Transform source data in Amazon Data
Firehose"). A record it cannot read is answered ``ProcessingFailed``: Firehose writes it under the
error prefix, and nothing is dropped.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from weir.archive.record import ArchivedRecord


def transform(event: dict[str, Any]) -> dict[str, Any]:
    return {"records": [_one(record) for record in event.get("records", [])]}


def _one(record: dict[str, Any]) -> dict[str, Any]:
    try:
        meta = record["kinesisRecordMetadata"]
        sub = meta.get("subsequenceNumber")
        archived = ArchivedRecord(
            shard_id=str(meta["shardId"]),
            sequence_number=str(meta["sequenceNumber"]),
            sub_sequence_number=None if sub in (None, "") else int(sub),
            partition_key=str(meta["partitionKey"]),
            arrival=datetime.fromtimestamp(int(meta["approximateArrivalTimestamp"]) / 1000, UTC),
            data=base64.b64decode(record["data"], validate=True),
        )
    except (KeyError, TypeError, ValueError, binascii.Error):
        return {"recordId": record.get("recordId"), "result": "ProcessingFailed", "data": record.get("data", "")}
    return {"recordId": record["recordId"], "result": "Ok", "data": base64.b64encode(archived.to_line()).decode()}
