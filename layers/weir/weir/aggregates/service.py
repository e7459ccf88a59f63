"""One invocation of the aggregates consumer: count, claim, and commit at the window's end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from weir.aggregates.window import Counted, Window, WindowState, read_record
from weir.payloads import EventTypes


class Claims(Protocol):
    def claim(self, records: list[Counted]) -> set[str]:
        """The owners of ``records`` whose event id is theirs: claimed now, or before by the same record."""


class AggregateStore(Protocol):
    def commit(self, window: Window, counts: Mapping[str, int], segment: str) -> None:
        """Add ``counts`` to the window's items, once per ``segment``."""


class AggregatesService:
    """One invocation of the aggregates consumer: count, claim, and commit at the window's end."""

    def __init__(self, event_types: EventTypes, claims: Claims, store: AggregateStore) -> None:
        self._event_types = event_types
        self._claims = claims
        self._store = store

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        window = Window.from_event(event)
        state = WindowState.from_json(event.get("state"))
        counted = [read_record(record, self._event_types) for record in event.get("Records", [])]
        if counted and state.segment is None:
            state.segment = counted[0].owner
        valid = [c for c in counted if c.event_id is not None]
        owned = self._claims.claim(valid) if valid else set()
        for item in counted:
            if item.event_id is None or item.owner in owned:
                state.counts[item.type] = state.counts.get(item.type, 0) + 1
        if event.get("isFinalInvokeForWindow") or event.get("isWindowTerminatedEarly"):
            if state.counts:
                self._store.commit(window, state.counts, state.segment or f"{window.shard_id}:{window.start}")
            return {"state": {}, "batchItemFailures": []}
        return {"state": state.to_json(), "batchItemFailures": []}
