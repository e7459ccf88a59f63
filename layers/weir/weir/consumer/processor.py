"""One Kinesis record through the consumer: read, stored once or quarantined once, and counted."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from weir.breaker.circuit import Breaker
from weir.consumer.records import PoisonRecord, quarantine_body, read_event, record_identity
from weir.errors import ErrorKind, aws_cause, classify, error_code
from weir.observability import logger, metrics
from weir.origin import latency_metric
from weir.payloads import EventTypes, TypedEvent
from weir.texts import parse_moment
from weir.tracing import event_subsegment

# Stores an event: True when this call stored it, False when it was stored before (a duplicate).
Store = Callable[[TypedEvent[Any]], bool]
# Quarantines a record (its identity, the message): True when this call did, False when it was before.
Quarantine = Callable[[str, str], bool]

# From the API's acceptance (the envelope's accepted_at) to the event stored, per newly stored event:
# the API's own writes, and apart from them the events a redrive or a replay put on the stream again
# (their accepted_at is their first acceptance, so their figure is hours, not the pipeline's pace).
STORE_LATENCY = "IngestToStoreLatency"

# What each outcome is counted as, once per batch.
METRICS = {
    "stored": "EventsStored",
    "duplicate": "DuplicateEvents",
    "quarantined": "RecordsQuarantined",
    "quarantined_before": "PoisonRedelivered",
}


@dataclass
class RecordResult:
    outcome: str  # a key of METRICS
    event_id: str | None = None


class EventProcessor:
    """Handles one Kinesis record; built once per execution environment.

    Outcomes are counted (thread-safely) and emitted once per batch by :meth:`flush_metrics`: one
    metric value per record would make Powertools flush every 100 records. ``EventsStored`` counts
    the events this delivery stored, ``DuplicateEvents`` the ones found stored already, however that
    was found (the sink's own condition, or Powertools' idempotency record).
    """

    def __init__(
        self,
        event_types: EventTypes,
        quarantine: Quarantine,
        store: Store,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        breaker: Breaker | None = None,
    ) -> None:
        self._event_types = event_types
        self._breaker = breaker
        self._quarantine = quarantine
        self._store = store
        self._now = now
        self._counts: Counter[str] = Counter()
        self._latencies: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _count(self, outcome: str) -> None:
        with self._lock:
            self._counts[outcome] += 1

    def flush_metrics(self) -> dict[str, int]:
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
            latencies, self._latencies = self._latencies, {}
        for outcome, metric in METRICS.items():
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=counts.get(outcome, 0))
        # one value per event (EMF value arrays), so that CloudWatch's percentiles are over events
        for name, values in latencies.items():
            for latency in values:
                metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=latency)
        return counts

    def handle(self, record: KinesisStreamRecord) -> RecordResult:
        try:
            event = read_event(record, self._event_types)
        except PoisonRecord as poison:
            # A failure to quarantine raises: the record is retried, never dropped.
            first = self._quarantine(record_identity(record), quarantine_body(record, str(poison), self._now()))
            logger.warning(
                "record quarantined" if first else "record quarantined before; not again",
                extra={
                    "sequence_number": record.kinesis.sequence_number,
                    "reason": str(poison),
                    # what the record says of itself, when it says it (make trace finds it by these)
                    **{k: v for k, v in (("event_id", poison.event_id), ("trace_id", poison.trace_id)) if v},
                },
            )
            outcome = "quarantined" if first else "quarantined_before"
            self._count(outcome)
            return RecordResult(outcome)
        envelope = event.envelope
        # Every line logged for this record, by any thread, carries its event id and the trace of the
        # ingest invocation that took it (weir.tracing); so does the X-Ray subsegment of its store.
        logger.thread_safe_append_keys(event_id=event.event_id, trace_id=envelope.trace_id)
        try:
            with event_subsegment(event.event_id, envelope.trace_id):
                stored = self._store(event)
        except Exception as exc:
            cause = aws_cause(exc)
            if self._breaker is not None and classify(cause) is ErrorKind.TRANSIENT:
                self._breaker.record_failure(error_code(cause))  # the sink's fault, not the record's
            logger.warning(
                "record failed; reported in batchItemFailures for a retry",
                extra={"sequence_number": record.kinesis.sequence_number, "error": f"{type(exc).__name__}: {exc}"},
            )
            raise
        finally:
            logger.thread_safe_remove_keys(["event_id", "trace_id"])
        if self._breaker is not None:
            self._breaker.record_success()
        outcome = "stored" if stored else "duplicate"
        self._count(outcome)
        logger.debug(
            "event stored" if stored else "event stored before; this copy left",
            extra={"event_id": event.event_id, "trace_id": envelope.trace_id, "origin": envelope.origin},
        )
        if stored and envelope.accepted_at is not None:
            name = latency_metric(STORE_LATENCY, envelope.origin)
            if name is not None:
                self._latency(name, envelope.accepted_at)
        return RecordResult(outcome, event.event_id)

    def _latency(self, name: str, accepted_at: str) -> None:
        milliseconds = max(0.0, (self._now() - parse_moment(accepted_at)).total_seconds() * 1000)
        with self._lock:
            self._latencies.setdefault(name, []).append(round(milliseconds, 1))
