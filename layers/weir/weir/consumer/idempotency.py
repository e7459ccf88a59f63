"""Powertools idempotency where the consumer needs it, on the template's IdempotencyTable.

Weir's own sink keeps one copy per ``event_id`` by itself, so no record is kept for it. A record is
kept for what is not idempotent by itself: a sink that declares ``idempotent = False`` (a fork's that
sends a message, say), and the quarantine, whose message a redelivered poison record would otherwise
send again. :class:`Once` is Powertools' ``idempotent_function`` around one such call, told apart
from a repeat: Powertools answers a repeat from the record it kept, and its ``response_hook`` marks
that answer, so the caller counts a duplicate as a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

# The idempotency table's partition key (template.yaml, IdempotencyTable), Powertools' default.
IDEMPOTENCY_KEY = "id"
REPLAYED = "replayed"

A = TypeVar("A")


def _replayed(response: Any, idempotent_data: DataRecord) -> Any:
    """Powertools' hook on an answer read back from the idempotency record (not on a first call)."""
    return {**response, REPLAYED: True}


class Once(Generic[A]):
    """``function`` called at most once per key while its idempotency record lasts.

    ``key_prefix`` names the function's records in the table (``<prefix>#<hash of the key>``), so
    that two callers sharing the table never share a record, whatever their keys.

    Powertools configures a persistence layer lazily on its first call, marking it configured
    before it sets the key and the expiry: it is configured here, once, before any key thread runs.
    """

    def __init__(
        self,
        function: Callable[[A], bool],
        persistence: DynamoDBPersistenceLayer,
        key_prefix: str,
        expires_after_seconds: int,
    ) -> None:
        self.config = IdempotencyConfig(
            event_key_jmespath="key",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
            response_hook=_replayed,
        )
        persistence.configure(self.config, key_prefix=key_prefix)

        def call(key: dict[str, str], argument: A) -> dict[str, bool]:
            return {"result": function(argument)}

        self._call = idempotent_function(
            data_keyword_argument="key", persistence_store=persistence, config=self.config, key_prefix=key_prefix
        )(call)

    def __call__(self, key: str, argument: A) -> tuple[bool, bool]:
        """``function``'s answer, and whether this call made it (False: a repeat, answered from the record)."""
        answer = self._call(key={"key": key}, argument=argument)
        return bool(answer["result"]), not answer.get(REPLAYED, False)


def persistence_layer(table_name: str, dynamodb: Any) -> DynamoDBPersistenceLayer:
    """A persistence layer on the idempotency table (one per :class:`Once`: each keeps its own settings)."""
    return DynamoDBPersistenceLayer(table_name=table_name, key_attr=IDEMPOTENCY_KEY, boto3_client=dynamodb)
