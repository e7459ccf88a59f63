"""Breaker: every minute, probe the sink while the circuit breaker is open and keep the consumer's
mapping disabled while it is open; on demand, ``{"force": "open" | "closed" | "release"}``."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from weir import aws
from weir.breaker import Breaker, DynamoDBStore, write_probe
from weir.breaker_control import BreakerControl
from weir.config import BreakerConfig
from weir.consumer import BREAKER_ID
from weir.observability import log_breaker_change, logger, metrics, tracer
from weir.sinks import DynamoDBEventSink


@cache
def control() -> BreakerControl:
    config = BreakerConfig.from_env(os.environ)
    dynamodb = aws.client("dynamodb", config.client_settings())
    breaker = Breaker(
        DynamoDBStore(dynamodb, config.breaker_table_name, BREAKER_ID),
        write_probe(dynamodb, config.events_table_name, DynamoDBEventSink.KEY),
        on_change=log_breaker_change,
    )
    lambda_client = aws.client("lambda", config.client_settings())
    return BreakerControl(breaker, lambda_client, config.mapping_uuid, config.maximum_record_age)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = control().handle(event or {})
    logger.info("breaker checked", extra=report)
    return report
