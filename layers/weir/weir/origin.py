"""Marking an event put on the stream again (by a redrive or a replay) with its ``origin``.

The envelope's ``origin`` (weir.models.Event) keeps re-put events out of the live latency figures and
tells the consumers, ``make trace`` and the counts where a copy came from. A record that is not an
envelope (a poison record back from the quarantine) is put back as it was, and so is one the mark
would push past the stream's record limit: an unmarked copy is counted as live, which is the lesser
harm than a copy that cannot be written.
"""

from __future__ import annotations

import json
from typing import Any

from weir import kpl
from weir.producer import Record

REDRIVE = "redrive"
REPLAY = "replay"
# Set by a replay on events whose count the aggregates already hold (the events a restored sink
# lost): the aggregates consumer does not count them again (weir.aggregates.window).
COUNTED_BEFORE = "counted_before"


# A latency metric's name for an event of each origin: the live figure for the API's own writes, and
# one apart for each kind of re-put event (their accepted_at is their first acceptance).
_LATENCY_PREFIX = {None: "", REDRIVE: "Redriven", REPLAY: "Replayed"}


def latency_metric(base: str, origin: str | None) -> str | None:
    """``base`` (e.g. IngestToStoreLatency) for a live event, ``Redriven<base>`` or ``Replayed<base>``
    for a re-put one, and None for an origin this version does not know (kept out of every figure)."""
    prefix = _LATENCY_PREFIX.get(origin)
    return None if prefix is None else prefix + base


def marked(record: Record, origin: str, max_record_bytes: int) -> Record:
    """``record`` with every envelope it holds marked ``origin`` (each event of an aggregate)."""
    if kpl.is_aggregated(record.data):
        try:
            users = kpl.deaggregate(record.data)
        except kpl.UnreadableAggregate:
            return record
        data = kpl.aggregate(
            [kpl.UserRecord(u.partition_key, _marked(u.data, origin), u.explicit_hash_key) for u in users]
        )
    else:
        data = _marked(record.data, origin)
    again = Record(data, record.partition_key, record.explicit_hash_key)
    return again if again.size <= max_record_bytes else record


def _marked(data: bytes, origin: str) -> bytes:
    return with_fields(data, {"origin": origin})


def envelope_of(data: bytes) -> dict[str, Any] | None:
    """The envelope a record's data holds (a JSON object with an event id), or None for anything else."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(document, dict) and isinstance(document.get("event_id"), str) and document["event_id"]:
        return document
    return None


def with_fields(data: bytes, fields: dict[str, object]) -> bytes:
    """An envelope's bytes with ``fields`` set; anything that is not an envelope, unchanged."""
    envelope = envelope_of(data)
    if envelope is None or all(envelope.get(k) == v for k, v in fields.items()):
        return data
    envelope.update(fields)
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
