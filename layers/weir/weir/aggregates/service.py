"""One invocation of the aggregates consumer: count the window's stored events, and commit at its end."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from weir.aggregates.window import Counted, Window, WindowState, read_record
from weir.observability import metrics
from weir.origin import latency_metric
from weir.texts import parse_moment

# From the API's acceptance to this consumer counting the event (its window is committed at the
# window's end, up to TumblingWindowInSeconds later); one value per event, the API's own writes
# apart from the events a redrive or a replay put on the stream again.
AGGREGATE_LATENCY = "IngestToAggregateLatency"


class AggregateStore(Protocol):
    def commit(self, window: Window, counts: Mapping[str, int], segment: str) -> None:
        """Add ``counts`` to the window's items, once per ``segment``."""


class AggregatesService:
    """One invocation of the aggregates consumer: the counts travel in the window's state and are
    committed when the window ends (or its state grew past 1 MB)."""

    def __init__(self, store: AggregateStore, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._now = now

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        window = Window.from_event(event)
        state = WindowState.from_json(event.get("state"))
        counted = [c for c in (read_record(r, window.shard_id) for r in event.get("Records", [])) if c is not None]
        if counted and state.segment is None:
            state.segment = counted[0].position
        for item in counted:
            state.counts[item.type] = state.counts.get(item.type, 0) + 1
        self._latencies(counted)
        if event.get("isFinalInvokeForWindow") or event.get("isWindowTerminatedEarly"):
            if state.counts:
                self._store.commit(window, state.counts, state.segment or f"{window.shard_id}:{window.start}")
            return {"state": {}, "batchItemFailures": []}
        return {"state": state.to_json(), "batchItemFailures": []}

    def _latencies(self, counted: list[Counted]) -> None:
        now = self._now()
        for item in counted:
            name = latency_metric(AGGREGATE_LATENCY, item.origin)
            if item.accepted_at is None or name is None:
                continue  # stored before the stamp, or put again by a writer this version does not know
            try:
                milliseconds = (now - parse_moment(item.accepted_at)).total_seconds() * 1000
            except ValueError:
                continue  # not a date-time: the process consumer checked it, but an item can be edited
            metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=round(max(0.0, milliseconds), 1))
