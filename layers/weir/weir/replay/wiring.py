"""A ReplayService built from its configuration: the clients, the reader, the place and the lease."""

from __future__ import annotations

from weir import aws
from weir.archive.reader import ArchiveReader
from weir.config import ReplayConfig
from weir.producer import Producer
from weir.redrive.lease import RunLease
from weir.redrive.limiter import RateLimiter
from weir.replay.cursor import CursorStore
from weir.replay.service import Reader, ReplayService
from weir.replay.stored import StoredEvents
from weir.replay.stream_source import StreamReader

LEASE_ID = "lease#replay"


def build(config: ReplayConfig) -> ReplayService:
    kinesis_settings = config.client_settings()
    kinesis = aws.client("kinesis", kinesis_settings)
    dynamodb = aws.client("dynamodb", config.dynamodb_client_settings())
    producer = Producer(
        kinesis,
        config.stream_name,
        call_seconds=kinesis_settings.worst_case_seconds,
        settings=config.producer_settings(),
    )
    readers: dict[str, Reader] = {
        "stream": StreamReader(kinesis, config.stream_name, read_interval=config.read_interval_seconds)
    }
    if config.archive_bucket_name:
        s3 = aws.client("s3", config.dynamodb_client_settings())
        readers["archive"] = ArchiveReader(s3, config.archive_bucket_name, config.archive_retention_days)
    return ReplayService(
        readers,
        producer,
        RateLimiter(config.records_per_second),
        CursorStore(dynamodb, config.state_table_name),
        StoredEvents(dynamodb, config.events_table_name) if config.events_table_name else None,
        RunLease(dynamodb, config.state_table_name, lease_id=LEASE_ID),
        config.safety_margin_seconds,
    )
