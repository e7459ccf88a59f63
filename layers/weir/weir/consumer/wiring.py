"""A ConsumerService built from its configuration and the domain's sink."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.idempotency import idempotent_function

from weir import aws
from weir.breaker.circuit import Breaker
from weir.breaker.dynamodb import DynamoDBStore
from weir.breaker.probes import write_probe
from weir.breaker.state import CONSUMER_BREAKER_ID
from weir.coalesce import CoalescingDynamoDB
from weir.config import ConsumerConfig
from weir.consumer.dynamodb_sink import DynamoDBEventSink
from weir.consumer.idempotency import IDEMPOTENCY_KEY, idempotency_layer
from weir.consumer.processor import EventProcessor
from weir.consumer.quarantine import SqsQuarantine
from weir.consumer.service import ConsumerService
from weir.consumer.sink import EventSink
from weir.large_messages import LargeMessageStore
from weir.observability import log_breaker_change


def build(
    config: ConsumerConfig, make_sink: Callable[[Any, Mapping[str, str]], EventSink], environ: Mapping[str, str]
) -> ConsumerService:
    """``make_sink`` is the domain's; ``environ`` is what it reads its own settings from."""
    client = aws.client("dynamodb", config.dynamodb_client_settings())
    writers = (
        CoalescingDynamoDB(
            client,
            {config.events_table_name: DynamoDBEventSink.KEY, config.idempotency_table_name: IDEMPOTENCY_KEY},
        )
        if config.write_coalescing
        else None
    )
    dynamodb: Any = writers or client
    sqs = aws.client("sqs", config.sqs_client_settings())
    sink = make_sink(dynamodb, environ)
    persistence, idempotency = idempotency_layer(config, dynamodb)

    def store_event(event: dict[str, Any]) -> dict[str, Any]:
        return {"event_id": event["event_id"], "stored": sink.store(event)}

    store = idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=idempotency)(
        store_event
    )
    bodies = LargeMessageStore(
        aws.client("s3", config.sqs_client_settings()), config.large_message_bucket_name, "quarantine"
    )
    breaker = None
    if config.breaker_table_name:
        breaker = Breaker(
            DynamoDBStore(client, config.breaker_table_name, CONSUMER_BREAKER_ID),
            write_probe(client, config.events_table_name, DynamoDBEventSink.KEY),
            config.breaker_settings(),
            on_change=log_breaker_change,
        )
    processor = EventProcessor(SqsQuarantine(sqs, config.quarantine_queue_url, bodies), store, breaker=breaker)
    return ConsumerService(config, processor, idempotency, writers, breaker)
