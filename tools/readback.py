"""Reading back what the pipeline wrote: every record of a stream, every message of a queue.

Used by ``make run``'s ledger, the load test's reconciliation and the tests, so that all of them count
the same way.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from weir import kpl


def stream_records(kinesis: Any, stream: str) -> Iterator[dict[str, Any]]:
    """Every record on every shard of ``stream``, from the trim horizon, oldest first per shard; an
    aggregated record (weir/kpl.py) as its user records, each with its ``sub_sequence_number``
    (None for a plain record). An aggregate that cannot be read is yielded whole, as the consumer
    quarantines it."""
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            for record in page["Records"]:
                place = {"shard_id": shard["ShardId"], "sequence_number": record["SequenceNumber"]}
                for sub, (key, data) in user_records(record["PartitionKey"], bytes(record["Data"])):
                    yield place | {"partition_key": key, "data": data, "sub_sequence_number": sub}
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            iterator = page.get("NextShardIterator")


def user_records(partition_key: str, data: bytes) -> list[tuple[int | None, tuple[str, bytes]]]:
    """(sub_sequence_number, (partition key, data)) of each user record a Kinesis record holds."""
    if kpl.is_aggregated(data):
        try:
            return [(i, (user.partition_key, user.data)) for i, user in enumerate(kpl.deaggregate(data))]
        except kpl.UnreadableAggregate:
            pass
    return [(None, (partition_key, data))]


# What a queue holds without a receive: visible, in flight and delayed messages.
QUEUE_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def queue_count(sqs: Any, queue_url: str) -> int:
    """Messages in the queue (visible, in flight and delayed), without receiving any."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(QUEUE_COUNTS))["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in QUEUE_COUNTS)


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
                kinesis = record["kinesis"]
                for _, (_, data) in user_records(kinesis.get("partitionKey", ""), base64.b64decode(kinesis["data"])):
                    try:
                        ids.add(json.loads(data)["event_id"])
                    except (KeyError, ValueError, TypeError):
                        continue  # not an envelope (a poison record): it has no event id to account for
    return ids
