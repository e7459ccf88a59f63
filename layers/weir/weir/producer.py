"""The Kinesis producer: PutRecords with resubmission of exactly the entries that failed.

A PutRecords call that throttles some entries still answers HTTP 200; the SDK does not retry
those entries, so a caller that only checks for exceptions loses them silently. This producer:

* refuses a record that breaks a Kinesis limit before any call is made;
* packs records, in order, into requests that respect every PutRecords limit;
* resubmits only the failed entries, with exponential backoff and full jitter, a bounded number
  of attempts per record, and never past its deadline;
* classifies whole-call errors: transient ones are retried, permanent ones are not;
* answers with an exact outcome for every record: shard and sequence number, or the final error.

Ordering: Kinesis orders records per shard by arrival. A resubmitted record lands after records
of the same partition key that succeeded in the meantime. ``Ordering.PER_KEY`` prevents that by
keeping at most one record of each partition key in flight; see docs/producer.md for its cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from weir.backoff import Backoff
from weir.deadline import Deadline
from weir.errors import ErrorKind, classify, classify_code, error_code
from weir.resubmit import EntryOutcome, Retries, Round, resubmit
from weir.shard_rate import RateSettings, ShardRates
from weir.shards import ShardMap, hash_key, list_shards

MIB = 1024 * 1024

PREDECESSOR_FAILED = "OrderedPredecessorFailed"
THROTTLED = "ProvisionedThroughputExceededException"
# A stale shard map (a split or merge, or a shard a put named that the map lacks) is listed again at
# most this often: ListShards takes 1,000 calls/s per stream, shared by every writer.
SHARD_MAP_REFRESH_SECONDS = 1.0


@dataclass(frozen=True)
class KinesisLimits:
    """PutRecords limits (see docs/aws-facts.md). ``max_record_bytes`` is the stream's own limit."""

    max_entries: int = 500
    max_request_bytes: int = 10 * MIB
    max_record_bytes: int = 1 * MIB
    max_partition_key_chars: int = 256

    def __post_init__(self) -> None:
        if not 1 <= self.max_entries <= 500:
            raise ValueError(f"max_entries must be in [1, 500], got {self.max_entries}")
        if not 1 <= self.max_record_bytes <= self.max_request_bytes:
            raise ValueError("max_record_bytes must be in [1, max_request_bytes]")


@dataclass(frozen=True)
class Record:
    """One record to write: its data and the partition key whose MD5 picks the shard, or the
    explicit hash key that picks it instead (an aggregated record's: weir.ingest.aggregation)."""

    data: bytes
    partition_key: str
    explicit_hash_key: str | None = None

    @property
    def size(self) -> int:
        """Bytes counted against the record and request limits: data plus partition key."""
        return len(self.data) + len(self.partition_key.encode("utf-8"))


class RecordRejected(ValueError):
    """A record breaks a Kinesis limit; raised before any call is made."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"record {index}: {reason}")
        self.index = index
        self.reason = reason


def check_record(index: int, record: Record, limits: KinesisLimits) -> None:
    """Raise :class:`RecordRejected` when ``record`` cannot be written to the stream."""
    key_chars = len(record.partition_key)
    if not 1 <= key_chars <= limits.max_partition_key_chars:
        raise RecordRejected(
            index,
            f"partition key is {key_chars} characters; Kinesis takes 1 to {limits.max_partition_key_chars}",
        )
    if record.size > limits.max_record_bytes:
        raise RecordRejected(
            index,
            f"record is {record.size} bytes (data plus partition key); the stream takes at most "
            f"{limits.max_record_bytes}",
        )


def plan_requests(indexed: Sequence[tuple[int, Record]], limits: KinesisLimits) -> list[list[tuple[int, Record]]]:
    """Pack records, in their order, into PutRecords requests that respect every limit.

    Each record must already pass :func:`check_record`.
    """
    requests: list[list[tuple[int, Record]]] = []
    current: list[tuple[int, Record]] = []
    current_bytes = 0
    for item in indexed:
        size = item[1].size
        if current and (len(current) == limits.max_entries or current_bytes + size > limits.max_request_bytes):
            requests.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += size
    if current:
        requests.append(current)
    return requests


class Ordering(Enum):
    """``NONE``: maximum throughput; a resubmitted record may land after a later one of its key.
    ``PER_KEY``: at most one record of each partition key in flight, so a key's records land in
    the order given; a record that finally fails takes the later records of its key with it."""

    NONE = "none"
    PER_KEY = "per-key"


@dataclass
class RecordOutcome(EntryOutcome):
    """What happened to one record. ``ok`` with shard and sequence number, or the final error."""

    shard_id: str | None = None
    sequence_number: str | None = None


@dataclass
class ProducerStats:
    """Figures for one :meth:`Producer.put`; the caller turns them into metrics."""

    calls: int = 0
    records: int = 0
    entries_sent: int = 0
    throttled_entries: int = 0
    resubmitted_entries: int = 0
    whole_call_errors: int = 0
    rounds: int = 0
    rate_waits: int = 0  # times the shard rates held every pending record back
    rate_wait_seconds: float = 0.0
    elapsed: float = 0.0


@dataclass
class PutResult:
    outcomes: list[RecordOutcome]
    stats: ProducerStats

    @property
    def failed_indexes(self) -> list[int]:
        return [i for i, outcome in enumerate(self.outcomes) if not outcome.ok]

    @property
    def all_ok(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes)


@dataclass(frozen=True)
class ProducerSettings:
    """``max_attempts`` bounds how often one record is sent (first try included). ``rates``: send
    each shard's records at a rate found from throttling (weir.shard_rate); None sends everything
    at once and leaves throttles to resubmission with backoff."""

    max_attempts: int = 6
    backoff: Backoff = field(default_factory=Backoff)
    ordering: Ordering = Ordering.NONE
    limits: KinesisLimits = field(default_factory=KinesisLimits)
    rates: RateSettings | None = None

    def __post_init__(self) -> None:
        Retries(self.max_attempts, self.backoff)  # refuses a bound out of range


class Producer:
    """Writes records to one stream. Thread-safe if the client is (boto3 clients are).

    ``client`` is a boto3 Kinesis client; ``call_seconds`` is the longest one call can take with
    that client's timeouts and retries (``ClientSettings.worst_case_seconds``): a call is only
    started when the deadline leaves that much time, so :meth:`put` returns within its deadline
    even when the endpoint hangs.
    """

    def __init__(
        self,
        client: Any,
        stream: str,
        call_seconds: float,
        settings: ProducerSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not stream:
            raise ValueError("stream name or ARN is required")
        self._client = client
        self._stream_arg = {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}
        self._call_seconds = call_seconds
        self.settings = settings or ProducerSettings()
        self._sleep = sleep
        self._clock = clock
        self._retries = Retries(self.settings.max_attempts, self.settings.backoff)
        self._rates = ShardRates(self.settings.rates, clock) if self.settings.rates is not None else None
        self._map_lock = threading.Lock()
        self._shard_map: ShardMap | None = None
        self._map_listed_at = float("-inf")
        self._map_stale = True

    @property
    def call_seconds(self) -> float:
        """The longest one PutRecords call can take (what the deadline must leave room for)."""
        return self._call_seconds

    def put(self, records: Sequence[Record], deadline: Deadline) -> PutResult:
        """Write ``records``; return one outcome per record, in the same order.

        Raises :class:`RecordRejected` (and calls nothing) if any record breaks a limit.
        """
        limits = self.settings.limits
        for index, record in enumerate(records):
            check_record(index, record, limits)

        started = self._clock()
        stats = ProducerStats(records=len(records))
        outcomes = [RecordOutcome() for _ in records]
        done = [False] * len(records)
        shards = self._shards_of(records, deadline)
        costs = [self._rates.settings.cost(r.size) for r in records] if shards is not None and self._rates else []

        def select(pending: list[int]) -> list[int] | None:
            batch = self._select(pending, records)
            if shards is None:
                return batch
            return self._paced(batch, costs, shards, deadline, stats)  # None: no time to wait for tokens

        def send_round(batch: list[int]) -> Round:
            whole_call_errors = stats.whole_call_errors
            retry = self._send_round(batch, records, outcomes, done, stats, deadline, shards)
            # With shard rates, a per-entry throttle has already slowed its shard and the token
            # wait paces the resubmission; a whole call refused told the rates nothing and backs off.
            paced = (
                shards is not None
                and stats.whole_call_errors == whole_call_errors
                and all(outcomes[i].error_code == THROTTLED for i in retry)
            )
            return Round(retry, paced)

        def after_round() -> None:
            if self.settings.ordering is Ordering.PER_KEY:
                self._fail_successors_of_failures(records, outcomes, done)

        stats.rounds = resubmit(
            outcomes,
            done,
            send_round,
            deadline,
            retries=self._retries,
            call_seconds=self._call_seconds,
            sleep=self._sleep,
            select=select,
            after_round=after_round,
        )
        stats.elapsed = self._clock() - started
        return PutResult(outcomes, stats)

    # --- shard rates -------------------------------------------------------------------

    def _shards_of(self, records: Sequence[Record], deadline: Deadline) -> list[str | None] | None:
        """Each record's shard by the stream's shard map, or None when rates are off or no map is
        known (then records go out unpaced, as without rates)."""
        if self._rates is None:
            return None
        shard_map = self._current_map(deadline)
        if shard_map is None:
            return None
        shards: list[str | None] = []
        for record in records:
            try:
                shards.append(shard_map.shard_for(hash_key(record.partition_key, record.explicit_hash_key)).shard_id)
            except KeyError:  # mid-reshard: no open shard holds the key in this map
                shards.append(None)
                self._map_stale = True
        return shards

    def shard_map(self, deadline: Deadline) -> ShardMap | None:
        """The stream's open shards as last listed (listed again when stale and the deadline allows);
        None when none could be listed."""
        return self._current_map(deadline)

    def _current_map(self, deadline: Deadline) -> ShardMap | None:
        with self._map_lock:
            now = self._clock()
            due = now - self._map_listed_at >= SHARD_MAP_REFRESH_SECONDS
            # listing must leave time for the put's own call
            if (self._shard_map is None or self._map_stale) and due and deadline.allows(2 * self._call_seconds):
                self._map_listed_at = now
                try:
                    self._shard_map = list_shards(self._client, self._stream_arg)
                    self._map_stale = False
                    if self._rates is not None:
                        self._rates.forget({shard.shard_id for shard in self._shard_map.shards})
                except (ClientError, BotoCoreError):
                    pass  # the old map (or none: unpaced) until the next attempt
            return self._shard_map

    def _paced(
        self, batch: list[int], costs: list[float], shards: list[str | None], deadline: Deadline, stats: ProducerStats
    ) -> list[int] | None:
        """The records of ``batch`` (in order) their shards' tokens allow, waiting for tokens when no
        shard has any; None when the wait would leave no time for the call."""
        rates = self._rates
        assert rates is not None
        by_shard: dict[str | None, list[int]] = {}
        for i in batch:
            by_shard.setdefault(shards[i], []).append(i)
        # no bucket holds more than full_burst_seconds of its shard: at most this many records fit
        most = int(rates.settings.full_burst_seconds * rates.settings.records_per_second) + 1
        while True:
            allowed: set[int] = set()
            waits: list[float] = []
            for shard_id, members in by_shard.items():
                if shard_id is None:
                    allowed.update(members)
                    continue
                taken = rates.take(shard_id, [costs[i] for i in members[:most]])
                allowed.update(members[:taken])
                if taken < len(members):
                    waits.append(rates.wait(shard_id, [costs[i] for i in members[taken : taken + most]]))
            if len(allowed) == len(batch):
                return batch
            if allowed:
                return [i for i in batch if i in allowed]
            wait = min(waits)  # every shard with records to send is out of tokens
            if not deadline.allows(wait + self._call_seconds):
                return None
            stats.rate_waits += 1
            stats.rate_wait_seconds += wait
            self._sleep(wait)

    # --- one round ---------------------------------------------------------------------

    def _select(self, pending: list[int], records: Sequence[Record]) -> list[int]:
        if self.settings.ordering is Ordering.NONE:
            return pending
        seen: set[str] = set()
        chosen = []
        for i in pending:
            key = records[i].partition_key
            if key not in seen:
                seen.add(key)
                chosen.append(i)
        return chosen

    def _send_round(
        self,
        batch: list[int],
        records: Sequence[Record],
        outcomes: list[RecordOutcome],
        done: list[bool],
        stats: ProducerStats,
        deadline: Deadline,
        shards: list[str | None] | None = None,
    ) -> list[int]:
        """Send ``batch``; mark what is decided in ``done``; return the transient failures.

        A request the deadline leaves no time for is not sent: its records stay undecided and
        the caller's deadline check fails them. With shard rates, once a request comes back with
        throttles for a shard, the round's later requests leave that shard's records for the next
        round, paced at its new rate (they stay undecided and unsent).
        """
        retry: list[int] = []
        throttled: set[str | None] = set()
        for planned in plan_requests([(i, records[i]) for i in batch], self.settings.limits):
            if not deadline.allows(self._call_seconds):
                break
            request = (
                [item for item in planned if shards[item[0]] not in throttled] if throttled and shards else planned
            )
            if not request:
                continue
            failed = self._send_request(request, outcomes, done, stats, shards)
            retry.extend(failed)
            if shards is not None:
                throttled.update(shards[i] for i in failed if outcomes[i].error_code == THROTTLED)
        return retry

    def _send_request(
        self,
        request: list[tuple[int, Record]],
        outcomes: list[RecordOutcome],
        done: list[bool],
        stats: ProducerStats,
        shards: list[str | None] | None,
    ) -> list[int]:
        for i, _ in request:
            if outcomes[i].attempts > 0:
                stats.resubmitted_entries += 1
            outcomes[i].attempts += 1
        stats.calls += 1
        stats.entries_sent += len(request)
        try:
            response = self._client.put_records(
                Records=[_entry(r) for _, r in request],
                **self._stream_arg,
            )
        except (ClientError, BotoCoreError) as exc:  # classified below; every record keeps the error
            stats.whole_call_errors += 1
            transient = classify(exc) is ErrorKind.TRANSIENT
            for i, _ in request:
                outcomes[i].error_code = error_code(exc)
                outcomes[i].error_message = str(exc)
                done[i] = not transient
            return [i for i, _ in request] if transient else []
        retry = self._apply_entries(request, response, outcomes, done, stats)
        if shards is not None:
            self._feed_back(request, outcomes, shards)
        return retry

    def _feed_back(
        self, request: list[tuple[int, Record]], outcomes: list[RecordOutcome], shards: list[str | None]
    ) -> None:
        """Tell each shard's rate how many of its entries were throttled; a record that landed on
        a shard the map did not predict means the map is stale (a split or merge)."""
        assert self._rates is not None
        sent: dict[str, int] = {}
        throttled: dict[str, int] = {}
        for i, _ in request:
            shard_id = shards[i]
            outcome = outcomes[i]
            if outcome.ok and outcome.shard_id != shard_id:
                self._map_stale = True
            if shard_id is None:
                continue
            sent[shard_id] = sent.get(shard_id, 0) + 1
            if outcome.error_code == THROTTLED:
                throttled[shard_id] = throttled.get(shard_id, 0) + 1
        for shard_id, count in sent.items():
            self._rates.feedback(shard_id, count, throttled.get(shard_id, 0))

    @staticmethod
    def _apply_entries(
        request: list[tuple[int, Record]],
        response: dict[str, Any],
        outcomes: list[RecordOutcome],
        done: list[bool],
        stats: ProducerStats,
    ) -> list[int]:
        entries = response.get("Records", [])
        if len(entries) != len(request):
            # The result array is in request order, one per entry; anything else means we cannot
            # tell which record landed, so every entry is retried (the consumer deduplicates).
            for i, _ in request:
                outcomes[i].error_code = "MalformedResponse"
                outcomes[i].error_message = f"{len(entries)} results for {len(request)} entries"
            return [i for i, _ in request]
        retry = []
        for (i, _), entry in zip(request, entries, strict=True):
            outcome = outcomes[i]
            code = entry.get("ErrorCode")
            if not code:
                outcome.ok = True
                outcome.shard_id = entry.get("ShardId")
                outcome.sequence_number = entry.get("SequenceNumber")
                outcome.error_code = outcome.error_message = None
                done[i] = True
                continue
            if code == THROTTLED:
                stats.throttled_entries += 1
            outcome.error_code = code
            outcome.error_message = entry.get("ErrorMessage")
            if classify_code(code) is ErrorKind.TRANSIENT:
                retry.append(i)
            else:
                done[i] = True
        return retry

    # --- between rounds ----------------------------------------------------------------

    @staticmethod
    def _fail_successors_of_failures(
        records: Sequence[Record], outcomes: list[RecordOutcome], done: list[bool]
    ) -> None:
        """Per-key ordering: once a record of a key has failed for good, the later ones of that
        key are not written either (they would land before it once it is redriven)."""
        failed_keys: set[str] = set()
        for i, record in enumerate(records):
            key = record.partition_key
            if not done[i]:
                if key in failed_keys:
                    done[i] = True
                    outcomes[i].error_code = PREDECESSOR_FAILED
                    outcomes[i].error_message = "an earlier record of this partition key was not written"
            elif not outcomes[i].ok:
                failed_keys.add(key)


def _entry(record: Record) -> dict[str, Any]:
    """A PutRecords entry."""
    entry: dict[str, Any] = {"Data": record.data, "PartitionKey": record.partition_key}
    if record.explicit_hash_key is not None:
        entry["ExplicitHashKey"] = record.explicit_hash_key
    return entry
