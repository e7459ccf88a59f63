"""Breaker: every minute, probe the sink while the circuit breaker is open and keep the consumer's
mapping disabled while it is open; on demand, ``{"force": "open" | "closed" | "release"}``."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from weir import domain
from weir.breaker import wiring
from weir.breaker.control import BreakerControl
from weir.config import BreakerConfig
from weir.observability import logger, metrics, tracer


@cache
def control() -> BreakerControl:
    """Built on the first invocation of an execution environment, then reused."""
    return wiring.build(BreakerConfig.from_env(os.environ), domain.make_sink, os.environ)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = control().handle(event or {})
    logger.info("breaker checked", extra=report)
    return report
