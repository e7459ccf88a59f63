"""Redrive: bring records back from every place an operator can see them, and lose none on the way.

Sources: the S3 on-failure destination (the records are in the object), the SQS on-failure
destination (a pointer: the records are read back from the stream), the quarantine and the overflow
queue. Rules:

* an item is deleted (or moved to ``redriven/`` in S3) only after **every** one of its records has
  been re-put; a crash half-way leaves it in place, and running again is safe because the consumer's
  idempotency removes the duplicates;
* an item whose records have expired from the stream, or that cannot be parsed, is moved to the
  unrecoverable queue with the reason — never deleted;
* every record's redrive attempts are counted (a DynamoDB counter keyed on its ``event_id``, or on a
  hash of its bytes); past the bound the item goes to the unrecoverable queue instead of looping;
* re-puts go through the ``weir`` producer, rate-limited so a redrive never crowds out live traffic.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from weir.deadline import Deadline
from weir.failures import MalformedFailureRecord, RecordsExpired, parse_failure_record, read_range
from weir.producer import Producer, Record

SourceName = Literal["s3-failures", "sqs-failures", "quarantine", "overflow"]
ALL_SOURCES: tuple[SourceName, ...] = ("s3-failures", "sqs-failures", "quarantine", "overflow")
UNRECOVERABLE_KIND = "weir.unrecoverable"


class RedriveRequest(BaseModel):
    """What one invocation is asked to do. ``{}`` redrives everything from every source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dry_run: bool = False
    max_items: int | None = Field(None, ge=1)
    sources: tuple[SourceName, ...] = ALL_SOURCES
    since: datetime | None = None
    until: datetime | None = None

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2026-11-23T12:00:00Z")
        return value

    def in_window(self, moment: datetime) -> bool:
        return (self.since is None or moment >= self.since) and (self.until is None or moment <= self.until)


@dataclass
class Item:
    source: SourceName
    ref: str
    body: bytes
    received_at: datetime
    handle: Any = None


class Source(Protocol):
    name: SourceName

    def items(self, request: RedriveRequest) -> Iterator[Item]: ...

    def records(self, item: Item) -> list[Record]: ...

    def done(self, item: Item) -> None: ...

    def release(self, item: Item) -> None: ...

    def unrecoverable(self, item: Item, reason: str) -> None: ...


class UnrecoverableSink:
    """The visible place for what cannot be redriven: an SQS queue, with the reason, and an alarm."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def put(self, source: str, ref: str, reason: str, body: str | None) -> None:
        message = {
            "kind": UNRECOVERABLE_KIND,
            "source": source,
            "ref": ref,
            "reason": reason[:2000],
            "moved_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "body": body,
        }
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(message))


class SqsSource:
    """One of the queues: failure pointers, quarantine or overflow. Held messages stay invisible
    until the run ends, then whatever was not done is made visible again."""

    def __init__(
        self,
        name: SourceName,
        sqs: Any,
        queue_url: str,
        to_records: Callable[[Item], list[Record]],
        unrecoverable_sink: UnrecoverableSink,
        visibility_seconds: int = 300,
    ) -> None:
        self.name = name
        self._sqs = sqs
        self._url = queue_url
        self._to_records = to_records
        self._sink = unrecoverable_sink
        self._visibility = visibility_seconds
        self._held: list[Item] = []

    def items(self, request: RedriveRequest) -> Iterator[Item]:
        seen: set[str] = set()
        try:
            while True:
                page = self._sqs.receive_message(
                    QueueUrl=self._url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=0,
                    VisibilityTimeout=self._visibility,
                    MessageSystemAttributeNames=["SentTimestamp"],
                )
                messages = [m for m in page.get("Messages", []) if m["MessageId"] not in seen]
                if not messages:
                    return
                for message in messages:
                    seen.add(message["MessageId"])
                    sent = datetime.fromtimestamp(int(message["Attributes"]["SentTimestamp"]) / 1000, UTC)
                    item = Item(
                        self.name, message["MessageId"], message["Body"].encode(), sent, message["ReceiptHandle"]
                    )
                    self._held.append(item)
                    if request.in_window(sent):
                        yield item
        finally:
            self.release_all()

    def records(self, item: Item) -> list[Record]:
        return self._to_records(item)

    def done(self, item: Item) -> None:
        self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=item.handle)
        self._held.remove(item)

    def release(self, item: Item) -> None:
        """Leave it where it is; it becomes visible again when the run ends."""

    def release_all(self) -> None:
        for item in self._held:
            self._sqs.change_message_visibility(QueueUrl=self._url, ReceiptHandle=item.handle, VisibilityTimeout=0)
        self._held.clear()

    def unrecoverable(self, item: Item, reason: str) -> None:
        self._sink.put(self.name, item.ref, reason, item.body.decode("utf-8", "replace"))
        self.done(item)


class S3FailureSource:
    """Failure objects under ``aws/lambda/``. Done: moved to ``redriven/``; unrecoverable: to
    ``unrecoverable/`` with a pointer message. Objects are never deleted without a copy."""

    name: SourceName = "s3-failures"
    PREFIX = "aws/lambda/"

    def __init__(self, s3: Any, bucket: str, unrecoverable_sink: UnrecoverableSink) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._sink = unrecoverable_sink

    def items(self, request: RedriveRequest) -> Iterator[Item]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": self.PREFIX}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._s3.list_objects_v2(**kwargs)
            for entry in page.get("Contents", []):
                modified = entry["LastModified"]
                if not request.in_window(modified):
                    continue
                body = self._s3.get_object(Bucket=self._bucket, Key=entry["Key"])["Body"].read()
                yield Item(self.name, entry["Key"], body, modified)
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def records(self, item: Item) -> list[Record]:
        failure = parse_failure_record(item.body)
        if failure.records is None:
            raise MalformedFailureRecord("an S3 failure object without payload")
        return [Record(r.data, r.partition_key) for r in failure.records]

    def _move(self, key: str, prefix: str) -> None:
        self._s3.copy_object(Bucket=self._bucket, Key=prefix + key, CopySource={"Bucket": self._bucket, "Key": key})
        self._s3.delete_object(Bucket=self._bucket, Key=key)

    def done(self, item: Item) -> None:
        self._move(item.ref, "redriven/")

    def release(self, item: Item) -> None:
        """Objects stay where they are."""

    def unrecoverable(self, item: Item, reason: str) -> None:
        self._move(item.ref, "unrecoverable/")
        self._sink.put(self.name, f"s3://{self._bucket}/unrecoverable/{item.ref}", reason, None)


def sqs_failure_records(kinesis: Any) -> Callable[[Item], list[Record]]:
    def to_records(item: Item) -> list[Record]:
        failure = parse_failure_record(item.body)
        return [Record(r.data, r.partition_key) for r in read_range(kinesis, failure.batch)]

    return to_records


def quarantine_records(item: Item) -> list[Record]:
    try:
        record = json.loads(item.body)["record"]
        return [Record(base64.b64decode(record["data"]), str(record["partition_key"]))]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedFailureRecord(f"not a quarantine message: {exc}") from None


def overflow_records(item: Item) -> list[Record]:
    try:
        event = json.loads(item.body)["event"]
        key = event.get("partition_key") or event["event_id"]
        return [Record(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode(), str(key))]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedFailureRecord(f"not an overflow message: {exc}") from None


def record_identity(record: Record) -> str:
    """The event_id when the data is an envelope, else a hash of the record's bytes."""
    try:
        event_id = json.loads(record.data).get("event_id")
        if isinstance(event_id, str) and event_id:
            return f"event#{event_id}"
    except (ValueError, AttributeError):
        pass
    digest = hashlib.sha256(record.partition_key.encode() + b"\x00" + record.data).hexdigest()
    return f"sha256#{digest}"


class AttemptCounter:
    """Redrive attempts per record, in DynamoDB (atomic ADD), with a TTL."""

    def __init__(self, dynamodb: Any, table: str, ttl_seconds: int = 30 * 24 * 3600) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._ttl = ttl_seconds

    def increment(self, identity: str) -> int:
        response = self._dynamodb.update_item(
            TableName=self._table,
            Key={"id": {"S": identity}},
            UpdateExpression="ADD attempts :one SET expiration = :ttl",
            ExpressionAttributeValues={":one": {"N": "1"}, ":ttl": {"N": str(int(time.time()) + self._ttl)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["attempts"]["N"])

    def peek(self, identity: str) -> int:
        item = self._dynamodb.get_item(TableName=self._table, Key={"id": {"S": identity}}).get("Item")
        return int(item["attempts"]["N"]) if item else 0


class RateLimiter:
    """At most ``rate`` records per second, so a redrive never takes the live traffic's shard capacity."""

    def __init__(
        self, rate: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._next = clock()

    def wait_for(self, records: int, deadline: Deadline) -> bool:
        """Wait until ``records`` may be sent; False when that would pass the deadline."""
        now = self._clock()
        start = max(now, self._next)
        if start - now > deadline.remaining():
            return False
        if start > now:
            self._sleep(start - now)
        self._next = start + records / self._rate
        return True


@dataclass
class RedriveReport:
    dry_run: bool
    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    complete: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "complete": self.complete,
            "counts": {k: dict(v) for k, v in self.counts.items()},
        }


class RedriveService:
    def __init__(
        self,
        sources: dict[SourceName, Source],
        producer: Producer,
        attempts: AttemptCounter,
        max_attempts: int,
        limiter: RateLimiter,
    ) -> None:
        self.sources = sources
        self.producer = producer
        self.attempts = attempts
        self.max_attempts = max_attempts
        self.limiter = limiter

    def run(self, request: RedriveRequest, deadline: Deadline) -> RedriveReport:
        report = RedriveReport(dry_run=request.dry_run)
        taken = 0
        for name in request.sources:
            source = self.sources.get(name)
            if source is None:
                report.counts[name]["not_configured"] += 1
                continue
            items = source.items(request)
            try:
                for item in items:
                    if request.max_items is not None and taken >= request.max_items:
                        report.complete = False
                        break
                    # room for one re-put and the item's delete, or stop cleanly
                    if deadline.remaining() < 2 * self.producer.call_seconds:
                        report.complete = False
                        break
                    taken += 1
                    self._one(source, item, request, deadline, report.counts[name])
            finally:
                close = getattr(items, "close", None)
                if close is not None:
                    close()  # an SQS source makes what it still holds visible again
        return report

    def _one(
        self, source: Source, item: Item, request: RedriveRequest, deadline: Deadline, counts: Counter[str]
    ) -> None:
        counts["items"] += 1
        try:
            records = source.records(item)
        except RecordsExpired as exc:
            counts["unrecoverable"] += 1
            if not request.dry_run:
                source.unrecoverable(item, f"records expired from the stream: {exc}")
            return
        except MalformedFailureRecord as exc:
            counts["unrecoverable"] += 1
            if not request.dry_run:
                source.unrecoverable(item, f"cannot be read: {exc}")
            return
        identities = [record_identity(r) for r in records]
        if request.dry_run:
            counts["would_redrive_records"] += len(records)
            source.release(item)
            return
        tried = [self.attempts.increment(identity) for identity in identities]
        if max(tried, default=0) > self.max_attempts:
            counts["attempts_exhausted"] += 1
            source.unrecoverable(item, f"redriven {max(tried) - 1} times already; the bound is {self.max_attempts}")
            return
        if not self.limiter.wait_for(len(records), deadline):
            counts["left_for_next_run"] += 1
            source.release(item)
            return
        result = self.producer.put(records, deadline)
        if result.all_ok:
            source.done(item)
            counts["records_redriven"] += len(records)
            counts["items_redriven"] += 1
        else:
            # Some records are back on the stream, some not: keep the item; the next run re-puts all
            # of it and the consumer's idempotency removes the duplicates.
            source.release(item)
            counts["items_failed"] += 1


def parse_request(event: Any) -> RedriveRequest:
    """The invocation event as a request; an invalid one raises ValueError naming the field."""
    from pydantic import ValidationError

    if event is None:
        event = {}
    try:
        return RedriveRequest.model_validate(event)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"invalid redrive request: {problems}") from None


def build_service(config: Any) -> RedriveService:
    """A RedriveService wired from a :class:`weir.config.RedriveConfig`."""
    from weir import aws

    side = config.side_client_settings()
    kinesis_settings = config.client_settings()
    kinesis = aws.client("kinesis", kinesis_settings)
    sqs = aws.client("sqs", side)
    sink = UnrecoverableSink(sqs, config.unrecoverable_queue_url)
    sources: dict[SourceName, Source] = {
        "quarantine": SqsSource("quarantine", sqs, config.quarantine_queue_url, quarantine_records, sink),
        "overflow": SqsSource("overflow", sqs, config.overflow_queue_url, overflow_records, sink),
    }
    if config.failure_bucket_name:
        sources["s3-failures"] = S3FailureSource(aws.client("s3", side), config.failure_bucket_name, sink)
    if config.failure_queue_url:
        sources["sqs-failures"] = SqsSource(
            "sqs-failures", sqs, config.failure_queue_url, sqs_failure_records(kinesis), sink
        )
    producer = Producer(
        kinesis,
        config.stream_name,
        call_seconds=kinesis_settings.worst_case_seconds,
        settings=config.producer_settings(),
    )
    attempts = AttemptCounter(aws.client("dynamodb", side), config.attempts_table_name)
    return RedriveService(
        sources, producer, attempts, config.max_redrive_attempts, RateLimiter(config.records_per_second)
    )


def record_redrive_metrics(report: RedriveReport) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    from weir.observability import metrics

    totals: Counter[str] = Counter()
    for counts in report.counts.values():
        totals.update(counts)
    for outcome in ("records_redriven", "items_redriven", "unrecoverable", "attempts_exhausted", "items_failed"):
        name = "Redrive" + "".join(part.title() for part in outcome.split("_"))
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=totals.get(outcome, 0))
