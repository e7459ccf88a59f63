"""An AggregatesService built from its configuration."""

from __future__ import annotations

from weir import aws
from weir.aggregates.service import AggregatesService
from weir.aggregates.store import DynamoDBAggregates
from weir.config import AggregatesConfig


def build(config: AggregatesConfig) -> AggregatesService:
    dynamodb = aws.client("dynamodb", config.dynamodb_client_settings())
    return AggregatesService(DynamoDBAggregates(dynamodb, config.aggregates_table_name))
