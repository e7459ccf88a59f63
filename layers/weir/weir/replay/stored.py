"""Which events the events table holds already: the ones a replay leaves alone (unless asked for
every event), read with BatchGetItem, 100 keys a call, what it left unprocessed asked again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

KEYS_PER_CALL = 100


class StoredEvents:
    def __init__(self, dynamodb: Any, table: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._sleep = sleep

    def which(self, event_ids: Iterable[str]) -> set[str]:
        wanted = sorted(set(event_ids))
        found: set[str] = set()
        for start in range(0, len(wanted), KEYS_PER_CALL):
            keys = [{"event_id": {"S": i}} for i in wanted[start : start + KEYS_PER_CALL]]
            request: dict[str, Any] = {
                self._table: {"Keys": keys, "ProjectionExpression": "event_id", "ConsistentRead": True}
            }
            pause = 0.05
            while request:
                answer = self._dynamodb.batch_get_item(RequestItems=request)
                found |= {item["event_id"]["S"] for item in answer["Responses"].get(self._table, [])}
                request = answer.get("UnprocessedKeys") or {}
                if request:
                    self._sleep(pause)
                    pause = min(pause * 2, 1.0)
        return found
