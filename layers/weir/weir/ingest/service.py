"""One ingest request: its events written to the stream, the rest spilled, the answer."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from weir.config import IngestConfig
from weir.deadline import Deadline, LambdaContextLike
from weir.ingest.aggregation import pack
from weir.ingest.overflow import ENVELOPE_OVERHEAD_BYTES, OverflowItem, OverflowSpiller, SpillResult
from weir.ingest.request import JSON_HEADERS, ApiResponse, RequestRejected, decode_body, parse_events
from weir.models import Event
from weir.observability import logger, metrics, record_producer_stats
from weir.payloads import EventTypes
from weir.producer import Producer, PutResult, Record
from weir.shards import ShardMap
from weir.texts import iso_millis
from weir.tracing import trace_id


class IngestService:
    """Everything one ingest invocation needs, built once at cold start."""

    def __init__(
        self,
        config: IngestConfig,
        event_types: EventTypes,
        producer: Producer,
        spiller: OverflowSpiller,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        trace: Callable[[], str | None] = lambda: trace_id(os.environ),
    ) -> None:
        self.config = config
        self.event_types = event_types
        self.producer = producer
        self.spiller = spiller
        self.now = now
        self.trace = trace

    def handle(self, body: str | None, is_base64: bool, context: LambdaContextLike | None) -> IngestOutcome:
        config = self.config
        deadline = Deadline.for_invocation(context, config.deadline_seconds, config.safety_margin_seconds)
        try:
            raw = decode_body(body, is_base64, config.max_request_bytes)
            # When the API took them, and the trace that took them: the consumers measure their latency
            # from the one and tie their work for each event to the other (weir.tracing).
            stamps = {"accepted_at": iso_millis(self.now()), "trace_id": self.trace()}
            events = [
                event.model_copy(update=stamps)
                for event in parse_events(raw, config.max_events_per_request, self.event_types)
            ]
            records = self._records(events)
        except RequestRejected as rejected:
            outcome = IngestOutcome(rejected.response(), rejected=True)
            record_ingest_metrics(outcome)
            return outcome
        # The shard map (for the shard rates and for aggregation) is listed against the whole
        # request's deadline: the stream's share alone (6 s by default) never leaves room for a
        # listing and a put call of 3 s each, so the map was never listed inside a request.
        shard_map = self.producer.shard_map(deadline)
        put = self._put(records, shard_map, deadline.sub(config.spill_reserve_seconds))
        failed = put.failed_indexes
        spill = self.spiller.spill(
            [
                OverflowItem(
                    events[i].to_document(),
                    put.outcomes[i].error_code or "Unknown",
                    put.outcomes[i].error_message or "",
                )
                for i in failed
            ],
            deadline,
        )
        outcome = IngestOutcome(self._answer(events, put, failed, spill), put=put, spill=spill)
        record_ingest_metrics(outcome)
        log_answer(events, outcome.response)
        return outcome

    def _put(self, records: list[Record], shard_map: ShardMap | None, deadline: Deadline) -> PutResult:
        """Write the events' records; aggregated (``PRODUCER_AGGREGATION=kpl``), each event's outcome
        is its aggregate's. Without a shard map to place aggregates by, the records go out plain."""
        if self.config.aggregation != "kpl" or shard_map is None:
            return self.producer.put(records, deadline)
        limits = self.producer.settings.limits
        packed = pack(records, shard_map, limits.max_record_bytes, self.config.aggregation_lanes)
        put = self.producer.put([p.record for p in packed], deadline)
        by_event = {
            member: outcome for one, outcome in zip(packed, put.outcomes, strict=True) for member in one.members
        }
        return PutResult([by_event[i] for i in range(len(records))], put.stats)

    def _records(self, events: list[Event]) -> list[Record]:
        limit = min(
            self.producer.settings.limits.max_record_bytes,
            self.config.overflow_max_message_bytes - ENVELOPE_OVERHEAD_BYTES,
        )
        records = []
        for i, event in enumerate(events):
            record = Record(event.to_record_data(), event.key)
            if record.size > limit:
                raise RequestRejected(
                    413,
                    f"event {i} ({event.event_id}) is {record.size} bytes as a record; the limit is {limit}",
                )
            records.append(record)
        return records

    def _answer(self, events: list[Event], put: PutResult, failed: list[int], spill: SpillResult) -> ApiResponse:
        results: list[dict[str, Any]] = []
        not_taken: list[str] = []
        spilled = dict(zip(failed, spill.spilled, strict=True))
        spill_errors = {failed[j]: outcome.error() for j, outcome in enumerate(spill.outcomes)}
        for i, event in enumerate(events):
            outcome = put.outcomes[i]
            if outcome.ok:
                results.append(
                    {
                        "event_id": event.event_id,
                        "status": "written",
                        "shard_id": outcome.shard_id,
                        "sequence_number": outcome.sequence_number,
                    }
                )
            elif spilled[i]:
                results.append({"event_id": event.event_id, "status": "spilled"})
            else:
                not_taken.append(event.event_id)
                results.append(
                    {
                        "event_id": event.event_id,
                        "status": "not_taken",
                        "error": f"stream: {outcome.error_code}; overflow queue: {spill_errors[i]}",
                    }
                )
        accepted = len(events) - len(not_taken)
        if not not_taken:
            return ApiResponse(202, {"accepted": accepted, "events": results})
        headers = dict(JSON_HEADERS)
        headers["Retry-After"] = str(self.config.retry_after_seconds)
        body = {
            "message": "some events were not taken; send exactly those again",
            "accepted": accepted,
            "not_taken": not_taken,
            "events": results,
        }
        return ApiResponse(503, body, headers)


@dataclass
class IngestOutcome:
    response: ApiResponse
    put: PutResult | None = None
    spill: SpillResult | None = None
    rejected: bool = False


def log_answer(events: list[Event], response: ApiResponse) -> None:
    """One line per answered request, naming every event it took by its fate: what an operator (and
    ``make trace``) searches for an event that is not in the table. About 40 bytes per event, some
    $0.02 of CloudWatch Logs per million events (docs/operations.md, "Finding an event")."""
    by_status: dict[str, list[str]] = {"written": [], "spilled": [], "not_taken": []}
    for result in response.body.get("events", []):
        by_status[result["status"]].append(result["event_id"])
    first = events[0] if events else None
    logger.info(
        "request answered",
        extra={
            "status_code": response.status,
            "accepted_at": first.accepted_at if first else None,
            "trace_id": first.trace_id if first else None,
            **{f"events_{status}": ids for status, ids in by_status.items() if ids},
        },
    )


def record_ingest_metrics(outcome: IngestOutcome) -> None:
    """Emit one request's figures as CloudWatch metrics (EMF, flushed by the handler)."""
    if outcome.rejected:
        metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
        return
    if outcome.put is not None:
        record_producer_stats(outcome.put.stats)
    if outcome.spill is not None:
        spilled = sum(outcome.spill.spilled)
        metrics.add_metric(name="EventsSpilled", unit=MetricUnit.Count, value=spilled)
        metrics.add_metric(name="EventsNotTaken", unit=MetricUnit.Count, value=len(outcome.spill.spilled) - spilled)
