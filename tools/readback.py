"""Reading back what the pipeline wrote: every record of a stream, every message of a queue.

Used by ``make run``'s ledger, the load test's reconciliation and the tests, so that all of them count
the same way.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any


def stream_records(kinesis: Any, stream: str) -> Iterator[dict[str, Any]]:
    """Every record on every shard of ``stream``, from the trim horizon, oldest first per shard."""
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            for record in page["Records"]:
                yield {
                    "shard_id": shard["ShardId"],
                    "sequence_number": record["SequenceNumber"],
                    "partition_key": record["PartitionKey"],
                    "data": bytes(record["Data"]),
                }
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            iterator = page.get("NextShardIterator")


class QueueNotDrained(RuntimeError):
    """The queue never confirmed it was empty: a count from it would be short."""


def peek_queue(sqs: Any, queue_url: str) -> list[str]:
    """Every message body in the queue, leaving the queue as it was.

    Each message is hidden while it is counted, so none is seen twice or missed; then all are
    made visible again. Long polls, and empty only when the queue agrees (weir.sqs_drain): one
    empty short poll says nothing on real SQS."""
    from weir.sqs_drain import QueueDrain

    bodies: list[str] = []
    handles: list[str] = []
    drain = QueueDrain(sqs, queue_url, visibility_seconds=60)
    for message in drain.messages():
        bodies.append(message["Body"])
        handles.append(message["ReceiptHandle"])
    for start in range(0, len(handles), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(handles[start : start + 10])
            ],
        )
    if not drain.drained:
        raise QueueNotDrained(
            f"{queue_url}: it still reports {drain.visible_left} visible messages no poll delivered "
            f"and {drain.in_flight_left} in flight with another reader"
        )
    return bodies


def failure_destination_event_ids(s3: Any, bucket: str) -> set[str]:
    """The event ids of the records in an S3 on-failure destination's objects (``aws/lambda/``)."""
    ids: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="aws/lambda/"):
        for entry in page.get("Contents", []):
            document = json.loads(s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read())
            for record in json.loads(document["payload"])["Records"]:
                try:
                    ids.add(json.loads(base64.b64decode(record["kinesis"]["data"]))["event_id"])
                except (KeyError, ValueError, TypeError):
                    continue  # not an envelope (a poison record): it has no event id to account for
    return ids
