"""Process: Kinesis batches -> the events table, once per event_id, with partial batch responses."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from weir import domain
from weir.config import ConsumerConfig
from weir.consumer import wiring
from weir.consumer.service import ConsumerService
from weir.observability import logger, metrics, tracer


@cache
def service() -> ConsumerService:
    """Built on the first invocation of an execution environment, then reused."""
    return wiring.build(ConsumerConfig.from_env(os.environ), domain.EVENT_TYPES, domain.make_sink, os.environ)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return service().handle_batch(event, context)
