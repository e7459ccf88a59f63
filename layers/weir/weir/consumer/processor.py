"""One Kinesis record through the consumer: decoded, stored once or quarantined, and counted."""

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
from weir.consumer.quarantine import Quarantine
from weir.consumer.records import PoisonRecord, decode_event, quarantine_body
from weir.errors import ErrorKind, aws_cause, classify, error_code
from weir.observability import logger, metrics


@dataclass
class RecordResult:
    outcome: str  # "stored", "duplicate" or "quarantined"
    event_id: str | None = None


class EventProcessor:
    """Handles one Kinesis record; built once per execution environment.

    Outcomes are counted (thread-safely) and emitted once per batch by :meth:`flush_metrics`:
    one metric value per record would make Powertools flush every 100 records.
    """

    def __init__(
        self,
        quarantine: Quarantine,
        store: Callable[..., Any],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        breaker: Breaker | None = None,
    ) -> None:
        self._breaker = breaker
        self._quarantine = quarantine
        self._store = store
        self._now = now
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _count(self, outcome: str) -> None:
        with self._lock:
            self._counts[outcome] += 1

    def flush_metrics(self) -> dict[str, int]:
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        for outcome, metric in (
            ("stored", "EventsStored"),
            ("duplicate", "DuplicateEvents"),
            ("quarantined", "RecordsQuarantined"),
        ):
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=counts.get(outcome, 0))
        return counts

    def handle(self, record: KinesisStreamRecord) -> RecordResult:
        try:
            event = decode_event(record)
        except PoisonRecord as poison:
            # A failure to quarantine raises: the record is retried, never dropped.
            self._quarantine.put(quarantine_body(record, str(poison), self._now()))
            logger.warning(
                "record quarantined",
                extra={"sequence_number": record.kinesis.sequence_number, "reason": str(poison)},
            )
            self._count("quarantined")
            return RecordResult("quarantined")
        # Every line logged for this record, by any thread, carries its event id.
        logger.thread_safe_append_keys(correlation_id=event.event_id)
        try:
            result = self._store(event=event.to_document())
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
            logger.thread_safe_remove_keys(["correlation_id"])
        if self._breaker is not None:
            self._breaker.record_success()
        outcome = "stored" if result and result.get("stored") else "duplicate"
        self._count(outcome)
        return RecordResult(outcome, event.event_id)
