"""Reading back what the pipeline wrote, through the real AWS APIs."""

from __future__ import annotations

import json
from typing import Any

from load.readback import peek_queue, stream_records


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
