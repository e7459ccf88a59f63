"""A ConsumerService built from its configuration and the domain's parts (its event types and sink)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from weir import aws
from weir.breaker.circuit import Breaker
from weir.breaker.dynamodb import DynamoDBStore
from weir.breaker.state import CONSUMER_BREAKER_ID
from weir.coalesce import CoalescingDynamoDB
from weir.config import ConsumerConfig
from weir.consumer.idempotency import IDEMPOTENCY_KEY, Once, persistence_layer
from weir.consumer.processor import EventProcessor, Store
from weir.consumer.quarantine import SqsQuarantine
from weir.consumer.service import ConsumerService
from weir.consumer.sink import EventSink, SinkParts
from weir.large_messages import LargeMessageStore
from weir.observability import log_breaker_change
from weir.payloads import EventTypes, TypedEvent


def build(
    config: ConsumerConfig,
    event_types: EventTypes,
    make_sink: Callable[[SinkParts], EventSink],
    environ: Mapping[str, str],
) -> ConsumerService:
    """``event_types`` and ``make_sink`` are the domain's; ``environ`` is what the sink reads its own
    settings from."""
    settings = config.dynamodb_client_settings()
    client = aws.client("dynamodb", settings)
    coalescer = CoalescingDynamoDB(client, {}) if config.write_coalescing else None
    sink = make_sink(SinkParts(environ, settings, coalescer))
    idempotency = []
    store: Store
    if sink.idempotent:
        store = sink.store
    else:
        # The idempotency record's lock and completion share the sink's rounds of batch writes.
        if coalescer is not None:
            coalescer.coalesce(config.idempotency_table_name, IDEMPOTENCY_KEY)
        once_store = Once(
            sink.store,
            persistence_layer(config.idempotency_table_name, coalescer or client),
            "weir.consumer.store",
            config.idempotency_ttl_seconds,
        )
        idempotency.append(once_store.config)

        def store(event: TypedEvent[Any]) -> bool:
            stored, first = once_store(event.event_id, event)
            return stored and first

    quarantine = SqsQuarantine(
        aws.client("sqs", config.sqs_client_settings()),
        config.quarantine_queue_url,
        LargeMessageStore(
            aws.client("s3", config.sqs_client_settings()), config.large_message_bucket_name, "quarantine"
        ),
    )

    def put(body: str) -> bool:
        quarantine.put(body)
        return True

    once_quarantined = Once(
        put,
        persistence_layer(config.idempotency_table_name, client),
        "weir.consumer.quarantine",
        config.idempotency_ttl_seconds,
    )
    idempotency.append(once_quarantined.config)

    def quarantine_once(record: str, body: str) -> bool:
        return once_quarantined(record, body)[1]

    breaker = None
    if config.breaker_table_name:
        breaker = Breaker(
            DynamoDBStore(client, config.breaker_table_name, CONSUMER_BREAKER_ID),
            sink.probe,
            config.breaker_settings(),
            on_change=log_breaker_change,
        )
    processor = EventProcessor(event_types, quarantine_once, store, breaker=breaker)
    writers = coalescer if coalescer is not None and coalescer.tables else None
    return ConsumerService(config, processor, idempotency, writers, breaker)
