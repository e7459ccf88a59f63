"""A failed batch of the aggregates consumer, counted into its window once.

The aggregates consumer reads the events table's change stream; a batch of it that ran out of
retries reached the on-failure destination with its window's counts never committed (a failed
invocation's state is dropped). Putting anything back on a stream would not help: the events are
stored, and a copy makes no new change record. So the redrive counts the batch's new items by type,
into the window they were delivered in (an S3 destination's payload names it; read back from the
table's stream, a record falls in the window its arrival does), as a segment of its own: the
commit's condition adds a segment once, however often the redrive runs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from weir.aggregates.store import DynamoDBAggregates
from weir.aggregates.window import Window, read_record
from weir.failures import (
    TableStreamFailure,
    names_a_table_stream,
    parse_table_stream_failure,
    read_table_stream_range,
)
from weir.redrive.sources import Item

FAILURE_SOURCES = frozenset({"s3-failures", "sqs-failures"})


class AggregateRecount:
    def __init__(self, store: DynamoDBAggregates, streams: Any, window_seconds: int) -> None:
        self._store = store
        self._streams = streams
        self._window_seconds = window_seconds

    def failure_of(self, item: Item) -> TableStreamFailure | None:
        """The aggregates consumer's failed batch, if the item is one (None for the first consumer's
        and for anything else; a malformed one raises MalformedFailureRecord)."""
        if item.source not in FAILURE_SOURCES or not names_a_table_stream(item.body):
            return None
        return parse_table_stream_failure(item.body)

    def records(self, failure: TableStreamFailure) -> list[dict[str, Any]]:
        """The batch's change records: from the payload, or read back from the table's stream
        (RecordsExpired past its 24 hours)."""
        if failure.records is not None:
            return failure.records
        return read_table_stream_range(self._streams, failure.batch)

    def recount(self, failure: TableStreamFailure, records: list[dict[str, Any]]) -> int:
        """Commit the batch's counts; how many stored events it counted."""
        by_window: dict[Window, Counter[str]] = defaultdict(Counter)
        shard = failure.batch.shard_id
        for record in records:
            counted = read_record(record, shard)
            if counted is not None:
                by_window[self._window_of(failure, record)][counted.type] += 1
        segment = f"redrive:{shard}:{failure.batch.start_sequence_number}"
        for window, counts in by_window.items():
            self._store.commit(window, counts, segment)
        return sum(sum(c.values()) for c in by_window.values())

    def _window_of(self, failure: TableStreamFailure, record: dict[str, Any]) -> Window:
        shard = failure.batch.shard_id
        if failure.window and failure.window.get("start") and failure.window.get("end"):
            return Window(str(failure.window["start"]), str(failure.window["end"]), shard)
        created = record.get("dynamodb", {}).get("ApproximateCreationDateTime", 0)
        # epoch seconds in an event; a datetime once botocore has parsed a read-back record
        arrival = created.timestamp() if isinstance(created, datetime) else float(created)
        start = arrival // self._window_seconds * self._window_seconds

        def iso(moment: float) -> str:
            return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        return Window(iso(start), iso(start + self._window_seconds), shard)
