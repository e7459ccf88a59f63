"""The breaker function's parts, built from its configuration."""

from __future__ import annotations

from weir import aws
from weir.breaker.circuit import Breaker
from weir.breaker.control import BreakerControl
from weir.breaker.dynamodb import DynamoDBStore
from weir.breaker.probes import write_probe
from weir.breaker.state import CONSUMER_BREAKER_ID
from weir.config import BreakerConfig
from weir.observability import log_breaker_change


def build(config: BreakerConfig) -> BreakerControl:
    dynamodb = aws.client("dynamodb", config.client_settings())
    breaker = Breaker(
        DynamoDBStore(dynamodb, config.breaker_table_name, CONSUMER_BREAKER_ID),
        write_probe(dynamodb, config.events_table_name, "event_id"),
        on_change=log_breaker_change,
    )
    lambda_client = aws.client("lambda", config.client_settings())
    return BreakerControl(breaker, lambda_client, config.mapping_uuid, config.maximum_record_age)
