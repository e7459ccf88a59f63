"""An AggregatesService built from its configuration and the domain's event types."""

from __future__ import annotations

from weir import aws
from weir.aggregates.claims import DynamoDBClaims
from weir.aggregates.service import AggregatesService
from weir.aggregates.store import DynamoDBAggregates
from weir.config import AggregatesConfig
from weir.payloads import EventTypes


def build(config: AggregatesConfig, event_types: EventTypes) -> AggregatesService:
    dynamodb = aws.client("dynamodb", config.dynamodb_client_settings())
    return AggregatesService(
        event_types,
        DynamoDBClaims(dynamodb, config.claims_table_name, config.claim_ttl_seconds),
        DynamoDBAggregates(dynamodb, config.aggregates_table_name),
    )
