"""Powertools idempotency for the consumer, on the template's IdempotencyTable."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

from weir.config import ConsumerConfig

# The idempotency table's partition key (template.yaml, IdempotencyTable), Powertools' default.
IDEMPOTENCY_KEY = "id"


def idempotency_layer(config: ConsumerConfig, dynamodb: Any) -> tuple[DynamoDBPersistenceLayer, IdempotencyConfig]:
    """Powertools idempotency on the idempotency table, configured here, once, before any key thread
    runs: Powertools configures its layer lazily on the first call and marks it configured before it
    sets the key and the expiry, so threads starting together could use a half-set layer."""
    persistence = DynamoDBPersistenceLayer(
        table_name=config.idempotency_table_name, key_attr=IDEMPOTENCY_KEY, boto3_client=dynamodb
    )
    idempotency = IdempotencyConfig(
        event_key_jmespath="event_id",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=config.idempotency_ttl_seconds,
    )
    persistence.configure(idempotency)
    return persistence, idempotency
