"""The stream consumer's domain: store each event once, quarantine poison, never block a shard.

For each Kinesis record:

* undecodable data or an invalid envelope is a *permanent* failure: the raw record goes to the
  quarantine queue with its shard, sequence number, arrival time and the reason, and the record
  counts as handled so the shard moves on;
* a valid event is stored in the events table through Powertools idempotency keyed on
  ``event_id``; a transient failure (throttling, timeout, 5xx) is raised, so the record is
  reported in ``batchItemFailures`` and Lambda retries from it.

:class:`KeyOrderedBatchProcessor` is Powertools' ``BatchProcessor`` with one change: records of
different partition keys are handled concurrently inside one invocation, while the records of one
key stay in order and stop at the key's first failure. See docs/consumer.md for why and what it buys.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.parser import parse
from pydantic import ValidationError

from weir import aws
from weir.breaker import Breaker, DynamoDBStore, write_probe
from weir.coalesce import CoalescingDynamoDB
from weir.config import ConsumerConfig
from weir.deadline import Deadline
from weir.errors import ErrorKind, aws_cause, classify, error_code
from weir.large_messages import LargeMessageStore
from weir.models import Event
from weir.observability import log_breaker_change, logger, metrics
from weir.sinks import DynamoDBEventSink
from weir.texts import iso_millis, problems

QUARANTINE_KIND = "weir.quarantine"
# The idempotency table's partition key (template.yaml, IdempotencyTable), Powertools' default.
IDEMPOTENCY_KEY = "id"
# The consumer's item in the breaker table.
BREAKER_ID = "process"
# While the breaker is open, a batch is held (the sink probed) for this share of the invocation's
# remaining time; the rest is for processing it once the sink answers.
HOLD_SHARE_OF_REMAINING_TIME = 0.75
QUARANTINE_VERSION = 1


class PoisonRecord(Exception):
    """A record that can never be processed as it is (a permanent failure)."""


class SkippedAfterEarlierFailure(Exception):
    """A record not attempted because an earlier record of its partition key failed."""


def decode_event(record: KinesisStreamRecord) -> Event:
    """The envelope in a Kinesis record, or :class:`PoisonRecord` saying why it is not one."""
    try:
        raw = base64.b64decode(record.kinesis.data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PoisonRecord(f"data is not base64: {exc}") from None
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonRecord(f"data is not JSON: {exc}") from None
    try:
        return parse(event=document, model=Event)
    except ValidationError as exc:
        raise PoisonRecord(f"invalid envelope: {problems(exc)}") from None


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


class Quarantine(Protocol):
    def put(self, body: str) -> None: ...


class SqsQuarantine:
    """The quarantine queue; a message larger than SQS takes (a poison record near the record size
    limit, base64-encoded) goes through S3 with a pointer in the queue (weir.large_messages)."""

    def __init__(self, client: Any, queue_url: str, bodies: LargeMessageStore) -> None:
        self._client = client
        self._queue_url = queue_url
        self._bodies = bodies

    def put(self, body: str) -> None:
        self._bodies.send(self._client, self._queue_url, body, _summary(body))


def _summary(body: str) -> dict[str, Any]:
    """What a pointer message keeps of a quarantine message: all of it but the record's data."""
    document = json.loads(body)
    record = {k: v for k, v in document.get("record", {}).items() if k != "data"}
    return {k: v for k, v in document.items() if k != "record"} | {"record": record}


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


class KeyThreads(Protocol):
    """Told when a batch's key threads start and as each one finishes (the coalescing DynamoDB client
    uses it to know how many writes make a full round); nothing else about the threads."""

    def running(self, count: int) -> AbstractContextManager[None]: ...

    def finished(self) -> None: ...


class KeyOrderedBatchProcessor(BatchProcessor):
    """Powertools' BatchProcessor, running different partition keys concurrently.

    Within a key, records run in sequence-number order; after a key's first failure its later
    records are not attempted and are reported as failures too, so a key's events never reach
    the sink out of order. Lambda checkpoints before the lowest reported sequence number and
    delivers the rest again; idempotency makes the repeats harmless.

    One thread pool per execution environment (the processor is built once and reused), not one
    per batch. Records go through Powertools' own per-record path (``_process_record``, the method
    its processors implement); a skipped record is failed through it too, by its handler.
    """

    def __init__(self, max_workers: int, threads: KeyThreads | None = None) -> None:
        super().__init__(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=True)
        self.max_workers = max(1, max_workers)
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="key")
        self._skipping = threading.local()

    def process(self) -> list[tuple[Any, ...]]:
        groups: OrderedDict[str, list[int]] = OrderedDict()
        for index, record in enumerate(self.records):
            groups.setdefault(str(record["kinesis"]["partitionKey"]), []).append(index)
        results: list[tuple[Any, ...]] = [()] * len(self.records)
        handler = self.handler
        self.handler = self._unless_skipped(handler)

        def run_key(indexes: list[int]) -> None:
            for position, index in enumerate(indexes):
                results[index] = self._process_record(self.records[index])
                if results[index][0] == "fail":
                    self._skipping.on = True
                    try:
                        for later in indexes[position + 1 :]:
                            results[later] = self._process_record(self.records[later])
                    finally:
                        self._skipping.on = False
                    return

        keys = iter(groups.values())
        count = 1 if self.max_workers == 1 else min(self.max_workers, len(groups))
        lock = threading.Lock()

        def worker() -> None:
            # Each thread takes the next key until none are left, then stops writing.
            try:
                while True:
                    with lock:
                        indexes = next(keys, None)
                    if indexes is None:
                        return
                    run_key(indexes)
            finally:
                if self.threads is not None:
                    self.threads.finished()

        try:
            with self.threads.running(count) if self.threads is not None else contextlib.nullcontext():
                if count == 1:
                    worker()
                else:
                    for future in [self._pool.submit(worker) for _ in range(count)]:
                        future.result()
        finally:
            self.handler = handler
        # Report failures in stream order, whatever order the threads finished in.
        self.fail_messages.sort(key=_sequence_number)
        return results

    def _unless_skipped(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        def handle(*args: Any, **kwargs: Any) -> Any:
            if getattr(self._skipping, "on", False):
                raise SkippedAfterEarlierFailure("an earlier record of this partition key failed")
            return handler(*args, **kwargs)

        return handle


def _sequence_number(record: Any) -> int:
    return int(record.kinesis.sequence_number)


def idempotency_layer(config: ConsumerConfig, dynamodb: Any) -> tuple[DynamoDBPersistenceLayer, IdempotencyConfig]:
    """Powertools idempotency on the idempotency table, configured here, once, before any key thread
    runs: Powertools configures its layer lazily on the first call and marks it configured before it
    sets the key and the expiry, so threads starting together could use a half-set layer."""
    persistence = DynamoDBPersistenceLayer(
        table_name=config.idempotency_table_name, key_attr=IDEMPOTENCY_KEY, boto3_client=dynamodb
    )
    idempotency = IdempotencyConfig(
        event_key_jmespath="event_id",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=config.idempotency_ttl_seconds,
    )
    persistence.configure(idempotency)
    return persistence, idempotency


class ConsumerService:
    """Everything one consumer invocation needs, built once at cold start."""

    def __init__(
        self,
        config: ConsumerConfig,
        processor: EventProcessor,
        idempotency: IdempotencyConfig,
        writers: CoalescingDynamoDB | None = None,
        breaker: Breaker | None = None,
    ) -> None:
        self.config = config
        self.processor = processor
        self.idempotency = idempotency
        self.writers = writers
        self.breaker = breaker
        self.batch = KeyOrderedBatchProcessor(config.key_concurrency, writers)

    @classmethod
    def from_config(cls, config: ConsumerConfig, environ: Mapping[str, str] | None = None) -> ConsumerService:
        """Wired from the configuration; ``environ`` (the process's, by default) is what the
        domain's sink reads its own settings from."""
        import os

        from weir import domain

        client = aws.client("dynamodb", config.dynamodb_client_settings())
        writers = (
            CoalescingDynamoDB(
                client,
                {config.events_table_name: DynamoDBEventSink.KEY, config.idempotency_table_name: IDEMPOTENCY_KEY},
            )
            if config.write_coalescing
            else None
        )
        dynamodb: Any = writers or client
        sqs = aws.client("sqs", config.sqs_client_settings())
        sink = domain.make_sink(dynamodb, os.environ if environ is None else environ)
        persistence, idempotency = idempotency_layer(config, dynamodb)

        def store_event(event: dict[str, Any]) -> dict[str, Any]:
            return {"event_id": event["event_id"], "stored": sink.store(event)}

        store = idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=idempotency)(
            store_event
        )
        bodies = LargeMessageStore(
            aws.client("s3", config.sqs_client_settings()), config.large_message_bucket_name, "quarantine"
        )
        breaker = None
        if config.breaker_table_name:
            breaker = Breaker(
                DynamoDBStore(client, config.breaker_table_name, BREAKER_ID),
                write_probe(client, config.events_table_name, DynamoDBEventSink.KEY),
                config.breaker_settings(),
                on_change=log_breaker_change,
            )
        processor = EventProcessor(SqsQuarantine(sqs, config.quarantine_queue_url, bodies), store, breaker=breaker)
        return cls(config, processor, idempotency, writers, breaker)

    def handle_batch(self, event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        from aws_lambda_powertools.utilities.batch import process_partial_response

        # Lets an IN_PROGRESS idempotency record expire when this invocation's time runs out,
        # so a timed-out invocation cannot block its events forever.
        self.idempotency.register_lambda_context(context)
        if self.breaker is not None and self.breaker.blocking():
            held = self._hold(event, context)
            if held is not None:
                return held
        try:
            response = process_partial_response(
                event=event, record_handler=self.processor.handle, processor=self.batch, context=context
            )
        finally:
            self.processor.flush_metrics()
        metrics.add_metric(
            name="RecordsFailed", unit=MetricUnit.Count, value=len(response.get("batchItemFailures", []))
        )
        return response

    def _hold(self, event: dict[str, Any], context: Any) -> PartialItemFailureResponse | None:
        """The breaker is open: probe the sink while this invocation has time, instead of failing
        the batch at once (each failed batch is one of the mapping's retries). None once the
        breaker lets batches through; else the whole batch reported failed from its first record,
        so the mapping keeps every record (the checkpoint does not move)."""
        assert self.breaker is not None
        remaining = context.get_remaining_time_in_millis() / 1000.0
        # leave the batch time to be processed after a successful probe
        deadline = Deadline(max(0.0, remaining * HOLD_SHARE_OF_REMAINING_TIME))
        logger.warning("circuit breaker open: holding the batch and probing the sink")
        if self.breaker.hold(deadline):
            logger.info("circuit breaker lets batches through again")
            return None
        records = event.get("Records", [])
        metrics.add_metric(name="BatchesHeldByBreaker", unit=MetricUnit.Count, value=1)
        if not records:
            return {"batchItemFailures": []}
        return {"batchItemFailures": [{"itemIdentifier": records[0]["kinesis"]["sequenceNumber"]}]}
