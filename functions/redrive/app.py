"""Redrive: failed records back onto the stream, from every place they wait. Invoke with ``{}``
for everything, or ``{"dry_run": true, "max_items": 10, "sources": ["overflow"], "since": ...}``."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from weir.config import RedriveConfig
from weir.observability import logger, metrics, tracer
from weir.redrive import wiring
from weir.redrive.service import RedriveService, record_redrive_metrics


@cache
def config() -> RedriveConfig:
    return RedriveConfig.from_env(os.environ)


@cache
def service() -> RedriveService:
    return wiring.build(config())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        report = service().handle(event, context)
    except Exception:
        # A run that did not finish is itself a signal; nothing it had not moved is lost.
        metrics.add_metric(name="RedriveRunsFailed", unit=MetricUnit.Count, value=1)
        raise
    record_redrive_metrics(report)
    logger.info("redrive finished", extra=report)
    return report
