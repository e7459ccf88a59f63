"""Where a replay stopped, so that the next run of the same request goes on from there: per shard,
the last sequence number whose records are all back on the stream, and the shards finished. One
item per request (its fingerprint) in the redrive's bookkeeping table, expired by its TTL, and
forgotten when the replay completes: the same request after that is a new replay of the range."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KEEP_SECONDS = 14 * 86_400


@dataclass
class Place:
    positions: dict[str, str] = field(default_factory=dict)  # shard -> last sequence number done
    finished: set[str] = field(default_factory=set)  # shards read to the range's end


class CursorStore:
    def __init__(self, dynamodb: Any, table: str, clock: Callable[[], float] = time.time) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._clock = clock

    def load(self, fingerprint: str) -> Place:
        item = self._dynamodb.get_item(
            TableName=self._table, Key={"id": {"S": _key(fingerprint)}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return Place()
        positions = {k: v["S"] for k, v in item.get("positions", {}).get("M", {}).items()}
        return Place(positions, set(item.get("finished", {}).get("SS", [])))

    def save(self, fingerprint: str, place: Place) -> None:
        item: dict[str, Any] = {
            "id": {"S": _key(fingerprint)},
            "positions": {"M": {k: {"S": v} for k, v in place.positions.items()}},
            "expiration": {"N": str(int(self._clock()) + KEEP_SECONDS)},
        }
        if place.finished:
            item["finished"] = {"SS": sorted(place.finished)}
        self._dynamodb.put_item(TableName=self._table, Item=item)

    def forget(self, fingerprint: str) -> None:
        self._dynamodb.delete_item(TableName=self._table, Key={"id": {"S": _key(fingerprint)}})


def _key(fingerprint: str) -> str:
    return f"replay#{fingerprint}"
