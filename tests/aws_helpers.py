"""Reading back what the pipeline wrote, through the real AWS APIs."""

from __future__ import annotations

import json
from typing import Any


def read_stream(kinesis: Any, stream: str) -> list[dict[str, Any]]:
    """Every record on every shard of ``stream``, decoded as JSON envelopes, with shard and sequence."""
    found: list[dict[str, Any]] = []
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    for shard in shards:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            for record in page["Records"]:
                found.append(
                    {
                        "shard_id": shard["ShardId"],
                        "sequence_number": record["SequenceNumber"],
                        "partition_key": record["PartitionKey"],
                        "event": json.loads(record["Data"]),
                    }
                )
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            iterator = page.get("NextShardIterator")
    return found


def drain_queue(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message body in the queue (received, not deleted: visibility hides them for a while)."""
    bodies: list[dict[str, Any]] = []
    while True:
        page = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = page.get("Messages", [])
        if not messages:
            return bodies
        bodies.extend(json.loads(m["Body"]) for m in messages)
