"""Reading back what the pipeline wrote, through the real AWS APIs."""

from __future__ import annotations

import json
import time
from typing import Any

from tools.readback import peek_queue, stream_records


def read_stream(kinesis: Any, stream: str) -> list[dict[str, Any]]:
    """Every record on every shard of ``stream``, decoded as JSON envelopes, with shard and sequence."""
    return [
        {
            "shard_id": r["shard_id"],
            "sequence_number": r["sequence_number"],
            "partition_key": r["partition_key"],
            "event": json.loads(r["data"]),
        }
        for r in stream_records(kinesis, stream)
    ]


def drain_queue(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message body in the queue, decoded as JSON (the queue is left as it was)."""
    return [json.loads(body) for body in peek_queue(sqs, queue_url)]


def open_shards(kinesis: Any, stream: str) -> list[dict[str, Any]]:
    """The stream's open shards (a closed one takes no writes), by starting hash key."""
    shards: list[dict[str, Any]] = list(kinesis.list_shards(StreamName=stream)["Shards"])
    found = [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
    return sorted(found, key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))


def wait_active(kinesis: Any, stream: str) -> None:
    """Wait for the stream to be ACTIVE again after a split, a merge or a scaling."""
    for _ in range(100):
        if kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.1)
    raise AssertionError(f"{stream} never became ACTIVE again")


def create_table(dynamodb: Any, **request: Any) -> dict[str, Any]:
    """CreateTable, then wait until the table is ACTIVE: before that, DynamoDB (and dynalite, for an
    event-loop turn) answers its reads and writes with ResourceNotFoundException."""
    created: dict[str, Any] = dynamodb.create_table(**request)
    waiter = dynamodb.get_waiter("table_exists")
    waiter.wait(TableName=request["TableName"], WaiterConfig={"Delay": 0.05, "MaxAttempts": 200})
    return created
