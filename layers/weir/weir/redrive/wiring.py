"""A RedriveService built from its configuration: the clients, the four sources and the lease."""

from __future__ import annotations

from typing import Any

from weir import aws
from weir.aggregates.store import DynamoDBAggregates
from weir.config import RedriveConfig
from weir.large_messages import LargeMessageStore
from weir.producer import Producer
from weir.redrive.attempts import AttemptCounter
from weir.redrive.bucket_source import BucketSource
from weir.redrive.lease import RunLease
from weir.redrive.limiter import RateLimiter
from weir.redrive.queue_source import QueueSource
from weir.redrive.recount import AggregateRecount
from weir.redrive.request import SourceName
from weir.redrive.service import RedriveService
from weir.redrive.sources import Source, overflow_records, quarantine_records, sqs_failure_records
from weir.redrive.unrecoverable import UnrecoverableSink


def build(config: RedriveConfig) -> RedriveService:
    side = config.side_client_settings()
    kinesis_settings = config.client_settings()
    kinesis = aws.client("kinesis", kinesis_settings)
    sqs = aws.client("sqs", side)
    s3 = aws.client("s3", side)
    dynamodb = aws.client("dynamodb", side)
    sink = UnrecoverableSink(
        sqs, config.unrecoverable_queue_url, LargeMessageStore(s3, config.large_message_bucket_name, "unrecoverable")
    )
    # Reading a pointer needs no prefix: the pointer names its bucket and key.
    bodies = LargeMessageStore(s3, config.large_message_bucket_name, "redrive")

    def queue(name: SourceName, url: str, to_records: Any) -> QueueSource:
        return QueueSource(name, sqs, url, to_records, sink, bodies, wait_seconds=config.receive_wait_seconds)

    sources: dict[SourceName, Source] = {
        "quarantine": queue("quarantine", config.quarantine_queue_url, quarantine_records),
        "overflow": queue("overflow", config.overflow_queue_url, overflow_records),
    }
    if config.failure_bucket_name:
        sources["s3-failures"] = BucketSource(s3, config.failure_bucket_name, sink)
    if config.failure_queue_url:
        sources["sqs-failures"] = queue("sqs-failures", config.failure_queue_url, sqs_failure_records(kinesis))
    producer = Producer(
        kinesis,
        config.stream_name,
        call_seconds=kinesis_settings.worst_case_seconds,
        settings=config.producer_settings(),
    )
    return RedriveService(
        sources,
        producer,
        AttemptCounter(dynamodb, config.attempts_table_name),
        config.max_redrive_attempts,
        RateLimiter(config.records_per_second),
        RunLease(dynamodb, config.attempts_table_name),
        config.safety_margin_seconds,
        recount=(
            AggregateRecount(
                DynamoDBAggregates(dynamodb, config.aggregates_table_name),
                aws.client("dynamodbstreams", side),
                config.tumbling_window_seconds,
            )
            if config.aggregates_table_name
            else None
        ),
    )
