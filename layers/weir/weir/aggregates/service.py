"""One invocation of the aggregates consumer: count the window's stored events, and commit at its end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from weir.aggregates.window import Window, WindowState, read_record


class AggregateStore(Protocol):
    def commit(self, window: Window, counts: Mapping[str, int], segment: str) -> None:
        """Add ``counts`` to the window's items, once per ``segment``."""


class AggregatesService:
    """One invocation of the aggregates consumer: the counts travel in the window's state and are
    committed when the window ends (or its state grew past 1 MB)."""

    def __init__(self, store: AggregateStore) -> None:
        self._store = store

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        window = Window.from_event(event)
        state = WindowState.from_json(event.get("state"))
        counted = [c for c in (read_record(r, window.shard_id) for r in event.get("Records", [])) if c is not None]
        if counted and state.segment is None:
            state.segment = counted[0].position
        for item in counted:
            state.counts[item.type] = state.counts.get(item.type, 0) + 1
        if event.get("isFinalInvokeForWindow") or event.get("isWindowTerminatedEarly"):
            if state.counts:
                self._store.commit(window, state.counts, state.segment or f"{window.shard_id}:{window.start}")
            return {"state": {}, "batchItemFailures": []}
        return {"state": state.to_json(), "batchItemFailures": []}
