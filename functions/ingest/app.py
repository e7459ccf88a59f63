"""Ingest: ``POST /events`` on the HTTP API -> Kinesis (or the overflow queue), never lost."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from weir import domain
from weir.config import IngestConfig
from weir.ingest import wiring
from weir.ingest.service import IngestService
from weir.observability import logger, metrics, tracer


@cache
def service() -> IngestService:
    """Built on the first invocation of an execution environment, then reused."""
    return wiring.build(IngestConfig.from_env(os.environ), domain.EVENT_TYPES)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = service().handle(event.get("body"), bool(event.get("isBase64Encoded")), context)
    return outcome.response.to_api()
