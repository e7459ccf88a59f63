"""Replay: a time range of the stream put through the pipeline again, exactly once. Invoke with
``{"from": "2026-12-06T10:00:00Z", "to": "2026-12-06T11:00:00Z"}``, and optionally ``dry_run``,
``types``, ``partition_key``, ``every_event``, ``recount``, ``report_ids``, ``max_records``. A run cut
by its deadline answers ``complete: false``; the same request again goes on from where it stopped."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from weir.config import ReplayConfig
from weir.observability import logger, metrics, tracer
from weir.replay import wiring
from weir.replay.service import ReplayService


@cache
def service() -> ReplayService:
    return wiring.build(ReplayConfig.from_env(os.environ))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = service().handle(event, context)
    counts = report.get("counts", {})
    metrics.add_metric(name="EventsReplayed", unit=MetricUnit.Count, value=counts.get("replayed", 0))
    logger.info("replay run finished", extra={k: v for k, v in report.items() if k != "event_ids"})
    return report
