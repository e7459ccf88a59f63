"""Aggregate: the events table's stream in tumbling windows -> per-window counts of the stored events
by type, committed once per window to the aggregates table (weir.aggregates)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from weir.aggregates import wiring
from weir.aggregates.service import AggregatesService
from weir.config import AggregatesConfig
from weir.observability import logger, metrics, tracer


@cache
def service() -> AggregatesService:
    """Built on the first invocation of an execution environment, then reused."""
    return wiring.build(AggregatesConfig.from_env(os.environ))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    answer = service().handle(event)
    if event.get("isFinalInvokeForWindow") or event.get("isWindowTerminatedEarly"):
        logger.info(
            "window committed",
            extra={
                "window": event.get("window"),
                "shard_id": event.get("shardId"),
                "terminated_early": bool(event.get("isWindowTerminatedEarly")),
            },
        )
    return answer
