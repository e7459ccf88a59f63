"""The breaker function's parts, built from its configuration and the domain's sink (whose probe it
calls while the breaker is open)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from weir import aws
from weir.breaker.circuit import Breaker
from weir.breaker.control import BreakerControl
from weir.breaker.dynamodb import DynamoDBStore
from weir.breaker.state import CONSUMER_BREAKER_ID
from weir.config import BreakerConfig
from weir.consumer.sink import EventSink, SinkParts
from weir.observability import log_breaker_change


def build(
    config: BreakerConfig, make_sink: Callable[[SinkParts], EventSink], environ: Mapping[str, str]
) -> BreakerControl:
    """``make_sink`` is the domain's, made with this function's clients: only its probe is called."""
    settings = config.client_settings()
    sink = make_sink(SinkParts(environ, settings))
    breaker = Breaker(
        DynamoDBStore(aws.client("dynamodb", settings), config.breaker_table_name, CONSUMER_BREAKER_ID),
        sink.probe,
        on_change=log_breaker_change,
    )
    return BreakerControl(breaker, aws.client("lambda", settings), config.mapping_uuid, config.maximum_record_age)
