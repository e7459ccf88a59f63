"""A Kinesis record as the consumer reads it: the envelope it holds, or why it holds none; and the
quarantine message a record that holds none becomes."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.parser import parse
from pydantic import ValidationError

from weir import kpl
from weir.models import Event
from weir.payloads import EventRejected, EventTypes, StreamPosition, TypedEvent
from weir.texts import iso_millis, problems

QUARANTINE_KIND = "weir.quarantine"
QUARANTINE_VERSION = 1


class PoisonRecord(Exception):
    """A record that can never be processed as it is (a permanent failure); with the event id and
    trace id it carries when it is an envelope that names them (so its log line can name them too)."""

    def __init__(self, reason: str, document: Any = None) -> None:
        super().__init__(reason)
        said = document if isinstance(document, dict) else {}
        self.event_id = _text_or_none(said.get("event_id"))
        self.trace_id = _text_or_none(said.get("trace_id"))


def _text_or_none(value: Any) -> str | None:
    return value[:128] if isinstance(value, str) and value else None


def read_event(record: KinesisStreamRecord, event_types: EventTypes) -> TypedEvent[Any]:
    """The event in a Kinesis record, its payload validated by its type's model; or
    :class:`PoisonRecord` saying why the record holds none."""
    try:
        raw = base64.b64decode(record.kinesis.data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PoisonRecord(f"data is not base64: {exc}") from None
    if kpl.is_aggregated(raw):  # a readable one was opened into its user records before the batch
        try:
            kpl.deaggregate(raw)
        except kpl.UnreadableAggregate as exc:
            raise PoisonRecord(f"an aggregated record that cannot be read: {exc}") from None
        raise PoisonRecord("an aggregated record that was not opened into its user records")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonRecord(f"data is not JSON: {exc}") from None
    try:
        envelope = parse(event=document, model=Event)
    except ValidationError as exc:
        raise PoisonRecord(f"invalid envelope: {problems(exc)}", document) from None
    try:
        typed = event_types.validate(envelope)
    except EventRejected as rejected:
        raise PoisonRecord(f"event {envelope.event_id} refused: {rejected}", document) from None
    return replace(typed, position=position(record))


def position(record: KinesisStreamRecord) -> StreamPosition:
    """The record's shard (from its eventID, ``shardId:sequenceNumber``), sequence number and place
    in its aggregate."""
    shard_id = record.event_id.split(":", 1)[0] if record.event_id else ""
    sub = record.kinesis.get("subSequenceNumber")
    return StreamPosition(shard_id, record.kinesis.sequence_number, None if sub is None else int(sub))


def record_identity(record: KinesisStreamRecord) -> str:
    """The record's place on the stream (``shardId:sequenceNumber``, and ``/subSequenceNumber`` for a
    user record of an aggregate, whose siblings share its sequence number): what is quarantined once."""
    place = record.event_id or record.kinesis.sequence_number
    sub = record.kinesis.get("subSequenceNumber")
    return place if sub is None else f"{place}/{sub}"


def quarantine_body(record: KinesisStreamRecord, reason: str, now: datetime) -> str:
    """A quarantine message: the raw record, where it came from, and why it is here."""
    kinesis = record.kinesis
    arrival = datetime.fromtimestamp(kinesis.approximate_arrival_timestamp, UTC)
    shard_id = record.event_id.split(":", 1)[0] if record.event_id else None
    return json.dumps(
        {
            "kind": QUARANTINE_KIND,
            "version": QUARANTINE_VERSION,
            "quarantined_at": iso_millis(now),
            "reason": reason[:2000],
            "record": {
                "data": kinesis.data,
                "partition_key": kinesis.partition_key,
                "sequence_number": kinesis.sequence_number,
                "shard_id": shard_id,
                "approximate_arrival": iso_millis(arrival),
                "event_source_arn": record.event_source_arn,
            },
        },
        separators=(",", ":"),
    )
