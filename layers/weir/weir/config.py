"""Configuration of each function, read once at cold start from the environment that
template.yaml sets, and validated: a bad value fails the cold start with a message naming the
variable, instead of failing the first request that happens to use it.

Domain code receives these models; it never reads ``os.environ``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from weir.aws import ClientSettings
from weir.backoff import Backoff
from weir.breaker.state import BreakerSettings
from weir.producer import KinesisLimits, Ordering, ProducerSettings
from weir.shard_rate import RateSettings
from weir.texts import problems


class ConfigError(ValueError):
    """The environment does not describe a valid configuration."""


class EnvSettings(BaseModel):
    """Settings read from a function's environment, each field with the variable as its alias;
    a value that cannot work is refused at cold start, naming the variable. A fork's domain.py
    declares its own sink's settings with it (docs/fork-guide.md)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Self:
        try:
            return cls.model_validate(dict(environ))
        except ValidationError as exc:
            raise ConfigError(f"invalid {cls.__name__} environment: {problems(exc)}") from None


class _SqsTimeouts(EnvSettings):
    """Timeouts of SQS calls (and, for redrive, its other side calls): every function sets both."""

    sqs_connect_timeout: float = Field(0.5, alias="SQS_CONNECT_TIMEOUT_SECONDS", gt=0, le=60)
    sqs_read_timeout: float = Field(1.0, alias="SQS_READ_TIMEOUT_SECONDS", gt=0, le=60)

    def sqs_client_settings(self, max_attempts: int = 3) -> ClientSettings:
        return ClientSettings(
            connect_timeout=self.sqs_connect_timeout, read_timeout=self.sqs_read_timeout, max_attempts=max_attempts
        )


class ProducerConfig(EnvSettings):
    """How the ``weir`` producer talks to Kinesis (shared by ingest, redrive and load users)."""

    stream_name: str = Field(alias="STREAM_NAME", min_length=1)
    connect_timeout: float = Field(1.0, alias="KINESIS_CONNECT_TIMEOUT_SECONDS", gt=0, le=60)
    read_timeout: float = Field(2.0, alias="KINESIS_READ_TIMEOUT_SECONDS", gt=0, le=60)
    # The producer runs the only retry loop (it alone sees per-entry failures and the deadline),
    # so botocore makes a single attempt per call unless this says otherwise.
    sdk_max_attempts: int = Field(1, alias="KINESIS_SDK_MAX_ATTEMPTS", ge=1, le=10)
    max_attempts: int = Field(6, alias="PRODUCER_MAX_ATTEMPTS", ge=1, le=50)
    backoff_base: float = Field(0.05, alias="PRODUCER_BACKOFF_BASE_SECONDS", gt=0, le=10)
    backoff_cap: float = Field(1.0, alias="PRODUCER_BACKOFF_CAP_SECONDS", gt=0, le=60)
    ordering: Literal["none", "per-key"] = Field("none", alias="PRODUCER_ORDERING")
    # Pace each shard at a rate found from its throttles (weir.shard_rate; needs kinesis:ListShards).
    shard_rates: bool = Field(True, alias="PRODUCER_SHARD_RATES")
    # The stream's own record limit (template Parameter MaxRecordSizeKiB sets both).
    max_record_kib: int = Field(1024, alias="MAX_RECORD_SIZE_KIB", ge=1024, le=10240)

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> Self:
        if self.backoff_cap < self.backoff_base:
            raise ValueError("PRODUCER_BACKOFF_CAP_SECONDS must be >= PRODUCER_BACKOFF_BASE_SECONDS")
        return self

    def client_settings(self) -> ClientSettings:
        return ClientSettings(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_attempts=self.sdk_max_attempts,
            max_pool_connections=10,
        )

    def producer_settings(self) -> ProducerSettings:
        return ProducerSettings(
            max_attempts=self.max_attempts,
            backoff=Backoff(base=self.backoff_base, cap=self.backoff_cap),
            ordering=Ordering(self.ordering),
            limits=KinesisLimits(max_record_bytes=self.max_record_kib * 1024),
            rates=RateSettings() if self.shard_rates else None,
        )


class IngestConfig(ProducerConfig, _SqsTimeouts):
    overflow_queue_url: str = Field(alias="OVERFLOW_QUEUE_URL", min_length=1)
    max_request_bytes: int = Field(1024 * 1024, alias="MAX_REQUEST_BYTES", ge=1024, le=6 * 1024 * 1024)
    max_events_per_request: int = Field(500, alias="MAX_EVENTS_PER_REQUEST", ge=1, le=10_000)
    # Total time for writing one request's events to the stream and, failing that, to the queue.
    deadline_seconds: float = Field(8.0, alias="INGEST_DEADLINE_SECONDS", gt=0, le=28)
    # Time kept back from the stream for the overflow spill; without it a slow stream would use
    # the whole deadline and leave no time to make the events durable elsewhere.
    spill_reserve_seconds: float = Field(2.0, alias="SPILL_RESERVE_SECONDS", gt=0, le=10)
    # Time kept back from Lambda's timeout to answer and flush logs and metrics.
    safety_margin_seconds: float = Field(0.5, alias="SAFETY_MARGIN_SECONDS", ge=0, le=5)
    spill_max_attempts: int = Field(4, alias="SPILL_MAX_ATTEMPTS", ge=1, le=20)
    overflow_max_message_bytes: int = Field(1024 * 1024, alias="OVERFLOW_MAX_MESSAGE_BYTES", ge=1024, le=1024 * 1024)
    retry_after_seconds: int = Field(1, alias="RETRY_AFTER_SECONDS", ge=1, le=3600)
    # "kpl": many events per Kinesis record (weir.ingest.aggregation); every reader must deaggregate.
    aggregation: Literal["none", "kpl"] = Field("none", alias="PRODUCER_AGGREGATION")
    # The consumer mapping's concurrent batches per shard: aggregates are grouped into as many lanes.
    aggregation_lanes: int = Field(1, alias="PRODUCER_AGGREGATION_LANES", ge=1, le=10)

    @model_validator(mode="after")
    def _calls_fit_the_deadline(self) -> Self:
        # A call is only started when the deadline leaves room for its worst case (connect plus
        # read timeout). Settings where not even one call fits would make every request a 503.
        if self.spill_reserve_seconds >= self.deadline_seconds:
            raise ValueError("SPILL_RESERVE_SECONDS must be < INGEST_DEADLINE_SECONDS")
        kinesis_call = self.client_settings().worst_case_seconds
        stream_budget = self.deadline_seconds - self.spill_reserve_seconds
        if stream_budget < kinesis_call:
            raise ValueError(
                f"INGEST_DEADLINE_SECONDS - SPILL_RESERVE_SECONDS ({stream_budget:g} s)"
                f" leaves no room for one Kinesis call ({kinesis_call:g} s: KINESIS_CONNECT_TIMEOUT_SECONDS +"
                " KINESIS_READ_TIMEOUT_SECONDS, times KINESIS_SDK_MAX_ATTEMPTS)"
            )
        sqs_call = self.sqs_client_settings().worst_case_seconds
        if self.spill_reserve_seconds < sqs_call:
            raise ValueError(
                f"SPILL_RESERVE_SECONDS ({self.spill_reserve_seconds:g} s) leaves no room for one SQS call"
                f" ({sqs_call:g} s: SQS_CONNECT_TIMEOUT_SECONDS + SQS_READ_TIMEOUT_SECONDS)"
            )
        return self

    def sqs_client_settings(self, max_attempts: int = 1) -> ClientSettings:
        # the spill runs its own retry loop against the deadline: one attempt per call
        return super().sqs_client_settings(max_attempts)


class _DynamoDBTimeouts(EnvSettings):
    dynamodb_connect_timeout: float = Field(1.0, alias="DYNAMODB_CONNECT_TIMEOUT_SECONDS", gt=0, le=60)
    dynamodb_read_timeout: float = Field(2.0, alias="DYNAMODB_READ_TIMEOUT_SECONDS", gt=0, le=60)
    dynamodb_max_attempts: int = Field(3, alias="DYNAMODB_MAX_ATTEMPTS", ge=1, le=10)

    def _dynamodb_settings(self, pool: int) -> ClientSettings:
        return ClientSettings(
            connect_timeout=self.dynamodb_connect_timeout,
            read_timeout=self.dynamodb_read_timeout,
            max_attempts=self.dynamodb_max_attempts,
            max_pool_connections=pool,
        )


class ConsumerConfig(_SqsTimeouts, _DynamoDBTimeouts):
    """The process function: idempotency, quarantine, key threads, breaker. Its sink reads its own
    settings (weir.domain.make_sink)."""

    idempotency_table_name: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=1)
    quarantine_queue_url: str = Field(alias="QUARANTINE_QUEUE_URL", min_length=1)
    # A quarantine message larger than SQS takes goes there, with a pointer in the queue.
    large_message_bucket_name: str = Field(alias="LARGE_MESSAGE_BUCKET_NAME", min_length=1)
    # How long an idempotency record is kept (a sink that is not idempotent by itself, the
    # quarantine): longer than the stream's retention plus the time a failed record may wait for a
    # redrive, or a late duplicate repeats the side effect.
    idempotency_ttl_seconds: int = Field(8 * 24 * 3600, alias="IDEMPOTENCY_TTL_SECONDS", ge=60)
    # Partition keys handled concurrently inside one invocation (docs/consumer.md).
    key_concurrency: int = Field(32, alias="CONSUMER_KEY_CONCURRENCY", ge=1, le=64)
    # Writes of concurrent key threads share PartiQL batch calls (weir.coalesce, docs/consumer.md).
    write_coalescing: bool = Field(True, alias="CONSUMER_WRITE_COALESCING")
    # The circuit breaker (weir.breaker.circuit, docs/operations.md): its table; unset, there is none.
    breaker_table_name: str | None = Field(None, alias="BREAKER_TABLE_NAME", min_length=1)
    breaker_failure_threshold: int = Field(10, alias="BREAKER_FAILURE_THRESHOLD", ge=1, le=10_000)
    breaker_probe_interval: float = Field(5.0, alias="BREAKER_PROBE_INTERVAL_SECONDS", gt=0, le=60)
    breaker_open_seconds: float = Field(10.0, alias="BREAKER_OPEN_SECONDS", ge=0, le=300)

    def breaker_settings(self) -> BreakerSettings:
        return BreakerSettings(
            failure_threshold=self.breaker_failure_threshold,
            probe_interval_seconds=self.breaker_probe_interval,
            open_seconds=self.breaker_open_seconds,
        )

    def dynamodb_client_settings(self) -> ClientSettings:
        # The batch is retried by the event source mapping; botocore's few attempts only smooth
        # over a single throttled call. Pool size follows the threads that share the client.
        return self._dynamodb_settings(max(10, self.key_concurrency))


class RedriveConfig(ProducerConfig, _SqsTimeouts):
    """The redrive function: where failed records wait, and how fast they may go back."""

    failure_bucket_name: str | None = Field(None, alias="FAILURE_BUCKET_NAME")
    failure_queue_url: str | None = Field(None, alias="FAILURE_QUEUE_URL")
    quarantine_queue_url: str = Field(alias="QUARANTINE_QUEUE_URL", min_length=1)
    overflow_queue_url: str = Field(alias="OVERFLOW_QUEUE_URL", min_length=1)
    unrecoverable_queue_url: str = Field(alias="UNRECOVERABLE_QUEUE_URL", min_length=1)
    attempts_table_name: str = Field(alias="REDRIVE_ATTEMPTS_TABLE_NAME", min_length=1)
    # Bodies larger than SQS takes (weir.large_messages): read for pointers, written for the unrecoverable queue.
    large_message_bucket_name: str = Field(alias="LARGE_MESSAGE_BUCKET_NAME", min_length=1)
    # Long polls only: a short poll can answer empty while messages wait (weir.sqs_drain).
    receive_wait_seconds: int = Field(1, alias="REDRIVE_RECEIVE_WAIT_SECONDS", ge=1, le=20)
    max_redrive_attempts: int = Field(3, alias="REDRIVE_MAX_ATTEMPTS", ge=1, le=100)
    # A share of the stream's write capacity: 1,000 records/s per shard is the whole of it.
    records_per_second: float = Field(200.0, alias="REDRIVE_RECORDS_PER_SECOND", gt=0, le=100_000)
    safety_margin_seconds: float = Field(5.0, alias="SAFETY_MARGIN_SECONDS", ge=0, le=60)
    # The aggregates consumer: its failed batches are counted into their windows (weir.redrive.recount).
    aggregates_table_name: str | None = Field(None, alias="AGGREGATES_TABLE_NAME", min_length=1)
    tumbling_window_seconds: int = Field(60, alias="TUMBLING_WINDOW_SECONDS", ge=1, le=900)

    @model_validator(mode="after")
    def _one_failure_destination(self) -> Self:
        if not (self.failure_bucket_name or self.failure_queue_url):
            raise ValueError("FAILURE_BUCKET_NAME or FAILURE_QUEUE_URL must be set")
        return self

    def side_client_settings(self) -> ClientSettings:
        """SQS, S3 and DynamoDB calls of the redrive: a few SDK retries, the SQS timeouts; the read
        timeout leaves a long poll its wait (a ReceiveMessage answers after up to its WaitTimeSeconds)."""
        return ClientSettings(
            connect_timeout=self.sqs_connect_timeout,
            read_timeout=self.receive_wait_seconds + self.sqs_read_timeout,
            max_attempts=3,
        )


class ReplayConfig(ProducerConfig, _DynamoDBTimeouts):
    """The replay function: the stream it reads and writes again, where it keeps its place, how fast."""

    # Its place and its lease, in the redrive's bookkeeping table (items replay#... and lease#replay).
    state_table_name: str = Field(alias="REPLAY_STATE_TABLE_NAME", min_length=1)
    # Weir's own sink: the events it holds already are left alone unless every_event is asked.
    events_table_name: str | None = Field(None, alias="EVENTS_TABLE_NAME", min_length=1)
    # The redrive's rate: a share of the stream's write capacity (1,000 records/s per shard is all of it).
    records_per_second: float = Field(200.0, alias="REPLAY_RECORDS_PER_SECOND", gt=0, le=100_000)
    # A shard takes five GetRecords calls a second from all its standard readers together; the
    # mapping makes one. At one a second the replay leaves the live consumer its share.
    read_interval_seconds: float = Field(1.0, alias="REPLAY_READ_INTERVAL_SECONDS", ge=0.2, le=10)
    # The stream's archive (ArchiveEnabled), and how long its lifecycle keeps objects.
    archive_bucket_name: str | None = Field(None, alias="ARCHIVE_BUCKET_NAME", min_length=1)
    archive_retention_days: int | None = Field(None, alias="ARCHIVE_RETENTION_DAYS", ge=1)
    safety_margin_seconds: float = Field(5.0, alias="SAFETY_MARGIN_SECONDS", ge=0, le=60)

    def dynamodb_client_settings(self) -> ClientSettings:
        return self._dynamodb_settings(4)


class BreakerConfig(EnvSettings):
    """The breaker function: the breaker's table and the mapping it controls. The sink it probes reads
    its own settings (weir.domain.make_sink)."""

    breaker_table_name: str = Field(alias="BREAKER_TABLE_NAME", min_length=1)
    mapping_uuid: str = Field(alias="MAPPING_UUID", min_length=1)
    # The mapping's MaximumRecordAgeInSeconds: how long the breaker may stay open before records expire.
    maximum_record_age: int = Field(alias="MAXIMUM_RECORD_AGE_SECONDS", ge=60)
    connect_timeout: float = Field(1.0, alias="BREAKER_CONNECT_TIMEOUT_SECONDS", gt=0, le=60)
    read_timeout: float = Field(3.0, alias="BREAKER_READ_TIMEOUT_SECONDS", gt=0, le=60)

    def client_settings(self) -> ClientSettings:
        return ClientSettings(connect_timeout=self.connect_timeout, read_timeout=self.read_timeout, max_attempts=2)


class AggregatesConfig(_DynamoDBTimeouts):
    """The aggregates function: the table of per-window counts."""

    aggregates_table_name: str = Field(alias="AGGREGATES_TABLE_NAME", min_length=1)

    def dynamodb_client_settings(self) -> ClientSettings:
        return self._dynamodb_settings(2)
