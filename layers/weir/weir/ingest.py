"""The ingest API's domain: validate a request, write its events, and never lose one answered 202.

``POST /events`` takes one envelope or ``{"events": [...]}``.

* 400 names every bad field; nothing of that request is written.
* 413 when the body, the number of events or one event is too large; nothing is written.
* Events the stream does not take before the deadline are spilled to the overflow queue and
  count as accepted (storage-first).
* Only events neither the stream nor the queue took make a 503, with ``Retry-After`` and exactly
  those events listed under ``not_taken``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from weir import aws
from weir.config import IngestConfig
from weir.deadline import Deadline, LambdaContextLike
from weir.models import Event, EventIn, stamp
from weir.observability import metrics, record_producer_stats
from weir.overflow import ENVELOPE_OVERHEAD_BYTES, OverflowItem, OverflowSpiller, SpillResult
from weir.producer import Producer, PutResult, Record
from weir.texts import field_path

JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class ApiResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON_HEADERS))

    def to_api(self) -> dict[str, Any]:
        """The HTTP API (payload format 2.0) Lambda proxy response."""
        return {
            "statusCode": self.status,
            "headers": self.headers,
            "body": json.dumps(self.body, separators=(",", ":")),
            "isBase64Encoded": False,
        }


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class RequestRejected(Exception):
    """The request cannot be taken as it is; nothing of it is written."""

    def __init__(self, status: int, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []

    def response(self) -> ApiResponse:
        body: dict[str, Any] = {"message": self.message}
        if self.status == 400:
            # Every 400 names what is wrong in the same shape; a problem with the body as a whole
            # names the field "(body)".
            errors = self.errors or [FieldError("(body)", self.message)]
            body["errors"] = [e.to_json() for e in errors]
        return ApiResponse(self.status, body)


def decode_body(body: str | None, is_base64: bool, max_bytes: int) -> bytes:
    """The raw request body, size-checked before anything is parsed."""
    if body is None or body == "":
        raise RequestRejected(400, 'request body is empty; send one event or {"events": [...]}')
    if is_base64:
        # base64 is 4/3 of the decoded size: refuse an obviously oversize body before decoding it.
        if len(body) > (max_bytes * 4) // 3 + 4:
            raise RequestRejected(413, f"request body is larger than {max_bytes} bytes")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise RequestRejected(400, "request body is marked base64 but is not valid base64") from None
    else:
        raw = body.encode("utf-8")
    if len(raw) > max_bytes:
        raise RequestRejected(413, f"request body is {len(raw)} bytes; the limit is {max_bytes}")
    return raw


def parse_events(raw: bytes, max_events: int) -> list[Event]:
    """Validate every event of the request; raise with every field error at once."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestRejected(400, f"request body is not valid JSON: {exc}") from None

    if isinstance(document, dict) and "events" in document:
        extra = sorted(set(document) - {"events"})
        if extra:
            raise RequestRejected(
                400, "invalid request", [FieldError(name, "unexpected field next to 'events'") for name in extra]
            )
        items = document["events"]
        if not isinstance(items, list):
            raise RequestRejected(400, "invalid request", [FieldError("events", "must be a list of events")])
        if not items:
            raise RequestRejected(400, "invalid request", [FieldError("events", "must hold at least one event")])
        prefixes = [f"events[{i}]" for i in range(len(items))]
    elif isinstance(document, dict):
        items, prefixes = [document], [""]
    else:
        raise RequestRejected(400, 'request body must be a JSON object: one event or {"events": [...]}')

    if len(items) > max_events:
        raise RequestRejected(413, f"request holds {len(items)} events; the limit is {max_events}")

    errors: list[FieldError] = []
    events: list[Event] = []
    for prefix, item in zip(prefixes, items, strict=True):
        if not isinstance(item, dict):
            errors.append(FieldError(prefix or "(body)", "must be a JSON object"))
            continue
        try:
            events.append(stamp(EventIn.model_validate(item)))
        except ValidationError as exc:
            errors.extend(FieldError(field_path(err["loc"], prefix), err["msg"]) for err in exc.errors())
    seen: dict[str, str] = {}
    for prefix, event in zip(prefixes, events, strict=False) if not errors else ():
        if event.event_id in seen:
            errors.append(FieldError(field_path(("event_id",), prefix), f"duplicates {seen[event.event_id]}"))
        else:
            seen[event.event_id] = field_path(("event_id",), prefix)
    if errors:
        raise RequestRejected(400, "invalid request; nothing was written", errors)
    return events


class IngestService:
    """Everything one ingest invocation needs, built once at cold start."""

    def __init__(self, config: IngestConfig, producer: Producer, spiller: OverflowSpiller) -> None:
        self.config = config
        self.producer = producer
        self.spiller = spiller

    @classmethod
    def from_config(cls, config: IngestConfig) -> IngestService:
        kinesis_settings = config.client_settings()
        sqs_settings = config.sqs_client_settings()
        producer = Producer(
            aws.client("kinesis", kinesis_settings),
            config.stream_name,
            call_seconds=kinesis_settings.worst_case_seconds,
            settings=config.producer_settings(),
        )
        spiller = OverflowSpiller(
            aws.client("sqs", sqs_settings),
            config.overflow_queue_url,
            call_seconds=sqs_settings.worst_case_seconds,
            max_attempts=config.spill_max_attempts,
            max_message_bytes=config.overflow_max_message_bytes,
        )
        return cls(config, producer, spiller)

    def handle(self, body: str | None, is_base64: bool, context: LambdaContextLike | None) -> IngestOutcome:
        config = self.config
        deadline = Deadline.for_invocation(context, config.deadline_seconds, config.safety_margin_seconds)
        try:
            raw = decode_body(body, is_base64, config.max_request_bytes)
            events = parse_events(raw, config.max_events_per_request)
            records = self._records(events)
        except RequestRejected as rejected:
            outcome = IngestOutcome(rejected.response(), rejected=True)
            record_ingest_metrics(outcome)
            return outcome
        put = self.producer.put(records, deadline.sub(config.spill_reserve_seconds))
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
        return outcome

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
