"""An IngestService built from its configuration and the domain's event types."""

from __future__ import annotations

from weir import aws
from weir.config import IngestConfig
from weir.ingest.overflow import OverflowSpiller
from weir.ingest.service import IngestService
from weir.payloads import EventTypes
from weir.producer import Producer


def build(config: IngestConfig, event_types: EventTypes) -> IngestService:
    kinesis_settings = config.client_settings()
    sqs_settings = config.sqs_client_settings()
    producer = Producer(
        aws.client("kinesis", kinesis_settings),
        config.stream_name,
        call_seconds=kinesis_settings.worst_case_seconds,
        settings=config.producer_settings(),
    )
    spiller = OverflowSpiller(
        aws.client("sqs", sqs_settings),
        config.overflow_queue_url,
        call_seconds=sqs_settings.worst_case_seconds,
        max_attempts=config.spill_max_attempts,
        max_message_bytes=config.overflow_max_message_bytes,
    )
    return IngestService(config, event_types, producer, spiller)
