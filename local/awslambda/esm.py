"""A Kinesis event source mapping, emulated with the semantics AWS documents (docs/aws-facts.md).

Per shard, a reader polls GetRecords through the local endpoint (about once a second when idle,
within Kinesis' 5 calls/s) and routes each record to one of ``ParallelizationFactor`` lanes by its
partition key, so a key's records stay in order. Each lane cuts batches (``BatchSize``, the 6 MB
payload limit, ``MaximumBatchingWindowInSeconds``) and invokes the function through its pool, which
caps concurrency at the function's reserved concurrency: beyond it, lanes wait.

What happens to a batch after each invocation (checkpoints, partial batch responses, bisection,
retries, record age, the on-failure destination) is :mod:`local.awslambda.esm_rules`, pure and unit-tested
against the recorded scenarios; this module reads, batches, invokes and writes. ``functionError`` in
an on-failure record is ``"Unhandled"`` after a function error and ``null`` after a batch failed by its
response.

With ``TumblingWindowInSeconds`` (the Lambda developer guide's "Implementing stateful Kinesis Data
Streams processing in Lambda"; docs/aws-facts.md): a window per shard, by the records' arrival time;
a batch holds records of one window; the event carries ``window``, ``state``, ``shardId``,
``isFinalInvokeForWindow`` and ``isWindowTerminatedEarly``; an answer without ``state`` is a failed
invocation; the state of the last answer that succeeded goes to the next invocation (a failed one's
is dropped). The window ends with an invocation without records and ``isFinalInvokeForWindow``,
retried until it succeeds, when a record of a later window is next or, with none, when the window
has been over for :data:`WINDOW_CLOSE_WAIT_SECONDS` (AWS: "up to 2 minutes"). A state over 1 MB is
handed over once with ``isWindowTerminatedEarly`` and the window goes on with a fresh state.

Resharding: the mapping lists the stream's shards every :data:`SHARD_DISCOVERY_SECONDS` and reads a
child shard (from its first record) only once its parents are finished: read to their end (a
GetRecords answer without ``NextShardIterator``), every record processed, and the open tumbling
window closed ("When a shard ends, Lambda considers the current window to be closed, and any child
shards will start their own window in a fresh state"). So a partition key's records reach the
function in the order they were written across a split or a merge, as the Kinesis Client Library
orders them. With ``LATEST``, the shards open at the start are read from then on and closed ones
not at all.

tests/e2e/test_esm_aws_recorded.py holds these against responses recorded against AWS.
An error of the emulator itself never drops a batch: the lane keeps it and tries again, and a
destination that cannot be written is retried until it can (both counted in :class:`MappingStats`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from local.awslambda.esm_rules import BatchPlan, BatchRules, first_to_retry
from local.awslambda.functions import FunctionPool, Invocation
from local.awslambda.stream_sources import Shard, StreamRecord, Throttled, source_for
from local.cloudformation.deployer import local_client

log = logging.getLogger("weir.esm")

PAYLOAD_LIMIT_BYTES = 6 * 1000 * 1000
# What a lane may hold ahead of its batch: the reader waits while a lane is full, so a backlog of
# any size costs the same memory (two full batches, and one GetRecords page in the reader).
LANE_BUFFER_BYTES = 2 * PAYLOAD_LIMIT_BYTES
EMULATOR_RETRY_SECONDS = 1.0
IDLE_POLL_SECONDS = 1.0
BUSY_POLL_SECONDS = 0.2  # 5 GetRecords calls per second per shard
# After UpdateEventSourceMapping(Enabled=false) reports Disabled, AWS keeps delivering for a while:
# LocalStack's AWS-validated ESM tests wait 60 s after Disabled before trusting that no batch comes
# ("the state is no real indication"; docs/aws-facts.md). The emulator does the same.
DISABLE_DELAY_SECONDS = 60.0
# "When no new records are being added to the current window, Lambda waits for up to 2 minutes
# before assuming that the window is over" (Lambda developer guide): any wait up to 2 minutes is
# AWS's behaviour; a short one keeps local runs and tests short.
WINDOW_CLOSE_WAIT_SECONDS = 5.0
MAX_WINDOW_STATE_BYTES = 1024 * 1024  # "a maximum of 1 MB per shard"
# How often a mapping lists the stream's shards to find the children of a split or a merge.
SHARD_DISCOVERY_SECONDS = 1.0


@dataclass(frozen=True)
class MappingSettings:
    uuid: str
    function_arn: str
    stream_arn: str
    batch_size: int
    window_seconds: float
    parallelization: int
    max_retries: int
    max_record_age: int
    bisect: bool
    report_item_failures: bool
    starting_position: str
    destination_arn: str | None
    role_arn: str = ""  # the function's execution role: the records' invokeIdentityArn
    tumbling_window: int = 0  # TumblingWindowInSeconds; 0: no windows
    # FilterCriteria's patterns: a record matching none of them is dropped before any batch (AWS:
    # "Lambda discards events that don't match"); none at all, every record goes to the function.
    filters: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_properties(cls, props: dict[str, Any], function_arn: str, role_arn: str = "") -> MappingSettings:
        destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        return cls(
            uuid=str(props.get("UUID") or uuid.uuid4()),  # the deployer's, which is the mapping's Ref
            function_arn=function_arn,
            stream_arn=str(props["EventSourceArn"]),
            batch_size=int(props.get("BatchSize", 100)),
            window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            parallelization=int(props.get("ParallelizationFactor", 1)),
            max_retries=int(props.get("MaximumRetryAttempts", -1)),
            max_record_age=int(props.get("MaximumRecordAgeInSeconds", -1)),
            bisect=bool(props.get("BisectBatchOnFunctionError", False)),
            report_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            starting_position=str(props.get("StartingPosition", "LATEST")),
            destination_arn=str(destination) if destination else None,
            role_arn=role_arn,
            tumbling_window=int(props.get("TumblingWindowInSeconds", 0)),
            filters=tuple(_patterns(props.get("FilterCriteria"))),
        )

    @property
    def enhanced_fan_out(self) -> bool:
        """Mapped to a stream consumer (SubscribeToShard in AWS): reads of its own, outside the
        shard's shared 5 calls/s and 2 MiB/s."""
        return "/consumer/" in self.stream_arn

    def reads_shared(self, other: MappingSettings) -> bool:
        """Both read the same Kinesis stream's shards as standard consumers (sharing their reads)."""
        kinesis = ":kinesis:" in self.stream_arn
        return kinesis and self.stream_arn == other.stream_arn and not (self.enhanced_fan_out or other.enhanced_fan_out)


def _patterns(criteria: Any) -> list[dict[str, Any]]:
    """FilterCriteria's patterns, each a JSON string in CloudFormation and the API."""
    patterns = []
    for item in (criteria or {}).get("Filters", []):
        pattern = item.get("Pattern")
        loaded = json.loads(pattern) if isinstance(pattern, str) else pattern
        if not isinstance(loaded, dict):
            raise ValueError(f"FilterCriteria: a pattern must be a JSON object, not {pattern!r}")
        _check_pattern(loaded)
        patterns.append(loaded)
    return patterns


def _check_pattern(pattern: Any) -> None:
    """Refuse, when the mapping is made, a pattern :func:`matches` would not emulate."""
    if isinstance(pattern, dict):
        for nested in pattern.values():
            _check_pattern(nested)
        return
    matches(pattern, None)


def matches(pattern: Any, value: Any) -> bool:
    """An event filter pattern's equality matching (Lambda developer guide, "Control which events
    Lambda sends to your function"): a list of the values allowed, or an object of nested patterns.
    The content filters AWS also has (prefix, numeric, exists) are refused, not guessed at."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and matches(p, value[k]) for k, p in pattern.items())
    if isinstance(pattern, list):
        if any(isinstance(option, dict) for option in pattern):
            raise ValueError(f"filter pattern {pattern!r}: only lists of exact values are emulated")
        return value in pattern
    raise ValueError(f"filter pattern {pattern!r}: a value must sit in a list")


@dataclass
class MappingStats:
    invocations: int = 0
    function_errors: int = 0
    partial_failures: int = 0
    bisections: int = 0
    retries: int = 0
    records_processed: int = 0
    records_to_destination: int = 0
    destination_records: list[dict[str, Any]] = field(default_factory=list)
    destination_delivery_failures: int = 0  # AWS/Lambda DestinationDeliveryFailures
    emulator_errors: int = 0  # the emulator's own failures; the batch was kept and tried again
    windows_closed: int = 0  # final invocations that succeeded (tumbling windows)
    windows_terminated_early: int = 0


class _Lane:
    def __init__(self, max_records: int) -> None:
        self.buffer: deque[StreamRecord] = deque()
        self.buffered_bytes = 0
        self.max_records = max_records
        self.in_flight: list[StreamRecord] = []
        self.condition = threading.Condition()
        # Tumbling windows: the open window's start (epoch seconds) and the state of its last
        # invocation that succeeded.
        self.window_start: float | None = None
        self.window_state: Any = {}
        # Its shard is closed and read to its end: once the buffer is empty, the lane is done.
        self.shard_ended = False

    def full(self) -> bool:
        return len(self.buffer) >= self.max_records or self.buffered_bytes >= LANE_BUFFER_BYTES

    def oldest_arrival(self) -> float | None:
        with self.condition:
            candidates = [r.arrival for r in self.in_flight[:1]] + [r.arrival for r in list(self.buffer)[:1]]
        return min(candidates) if candidates else None


def _has_state(result: Invocation) -> bool:
    """A tumbling window's invocation answered with a ``state`` (without one it failed)."""
    return isinstance(result.payload, dict) and "state" in result.payload


class EventSourceMapping:
    def __init__(
        self, settings: MappingSettings, pool: FunctionPool, endpoint_url: str, region: str = "us-east-1"
    ) -> None:
        self.settings = settings
        self.pool = pool
        # The Kinesis stream, or the DynamoDB table's stream, it reads (local.awslambda.stream_sources).
        self.source = source_for(settings.stream_arn, endpoint_url)
        self.s3 = local_client("s3", endpoint_url)
        self.sqs = local_client("sqs", endpoint_url)
        self.region = region
        self.stats = MappingStats()
        self._stats_lock = threading.Lock()
        self._stop = threading.Event()
        # Cleared by UpdateEventSourceMapping(Enabled=false): readers stop reading and lanes stop
        # starting batches (one in flight finishes); set again, both go on from where they were.
        self.enabled = threading.Event()
        self.enabled.set()
        self.disable_delay_seconds = DISABLE_DELAY_SECONDS
        self._disabling: threading.Timer | None = None
        self.state = "Enabled"
        self.last_modified = time.time()
        self._threads: list[threading.Thread] = []
        self.lanes: dict[str, list[_Lane]] = {}
        # Shard lineage: each shard the mapping knows and its parents; the shards it has read to
        # their end (closed shards, all read); the shards it has finished (ended and processed).
        self._parents: dict[str, list[str]] = {}
        self._ended: set[str] = set()
        self._finished: set[str] = set()
        self._shards_lock = threading.Lock()
        self.function_logical_id = ""  # set by the runtime
        # Standard consumers reading the stream, this one included (set by the runtime): while records
        # flow, each polls a shard every BUSY_POLL_SECONDS x this, so that together they stay within
        # its 5 GetRecords calls/s instead of taking turns being throttled.
        self.readers_per_shard = 1

    # --- lifecycle --------------------------------------------------------------------

    def concurrency_wanted(self) -> int:
        """Batches this mapping can have in flight at once: open shards x ParallelizationFactor."""
        open_shards = [s for s in self.source.shards() if not s.closed]
        return len(open_shards) * self.settings.parallelization

    def start(self) -> None:
        self._discover(first=True)
        self._spawn("shards", self._watch_shards)

    def _watch_shards(self) -> None:
        while not self._stop.wait(SHARD_DISCOVERY_SECONDS):
            try:
                self._discover(first=False)
            except Exception:  # the endpoint going away at shutdown; the next round lists again
                if self._stop.is_set():
                    return
                log.exception("listing the shards of %s failed", self.settings.stream_arn)

    def _discover(self, first: bool) -> None:
        """Start every shard whose parents are finished. At the first listing the shards are read from
        ``StartingPosition``; a shard found later is a split's or a merge's child, read from its start."""
        shards: list[Shard] = self.source.shards()
        with self._shards_lock:
            for shard in shards:
                self._parents.setdefault(shard.shard_id, shard.parents)
            for shard_id, done in list(self._finished_lanes().items()):
                if done:
                    self._finished.add(shard_id)
            for shard in shards:
                shard_id = shard.shard_id
                if shard_id in self.lanes:
                    continue
                closed = shard.closed
                if first and self.settings.starting_position == "LATEST":
                    if closed:  # nothing comes after LATEST on a closed shard
                        self.lanes[shard_id] = []
                        self._ended.add(shard_id)
                        self._finished.add(shard_id)
                        continue
                    position = "LATEST"
                else:
                    known = [p for p in self._parents[shard_id] if p in self._parents]
                    if any(p not in self._finished for p in known):
                        continue  # its parents' records come first
                    position = self.settings.starting_position if first else "TRIM_HORIZON"
                self._start_shard(shard_id, position)

    def _finished_lanes(self) -> dict[str, bool]:
        """Per shard read to its end and not yet finished: whether its lanes are done with it."""
        found = {}
        for shard_id in self._ended - self._finished:
            done = True
            for lane in self.lanes.get(shard_id, []):
                with lane.condition:  # a batch moves from the buffer to in flight under it
                    done = done and not lane.buffer and not lane.in_flight and lane.window_start is None
            found[shard_id] = done
        return found

    def _start_shard(self, shard_id: str, position: str) -> None:
        lanes = [_Lane(2 * self.settings.batch_size) for _ in range(self.settings.parallelization)]
        self.lanes[shard_id] = lanes
        log.debug("shard %s: reading from %s", shard_id, position)
        self._spawn(f"reader-{shard_id}", self._read_shard, shard_id, lanes, position)
        for n, lane in enumerate(lanes):
            self._spawn(f"lane-{shard_id}-{n}", self._run_lane, shard_id, lane)

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"esm-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        if self._disabling is not None:
            self._disabling.cancel()
        self._stop.set()
        for lanes in list(self.lanes.values()):
            for lane in lanes:
                with lane.condition:
                    lane.condition.notify_all()
        for thread in self._threads:
            thread.join(10)

    def update(self, enabled: bool | None = None, **settings: Any) -> None:
        """Apply an UpdateEventSourceMapping: settings from the next batch on; ``enabled`` pauses
        or resumes polling from the last checkpoint (records read but not yet processed wait)."""
        if settings:
            self.settings = replace(self.settings, **settings)
        if self._disabling is not None:
            self._disabling.cancel()
            self._disabling = None
        if enabled is True:
            self.state = "Enabled"
            self.enabled.set()
        elif enabled is False and self.state != "Disabled":
            # Reported Disabled at once; batches keep coming for disable_delay_seconds, as in AWS.
            self.state = "Disabled"
            self._disabling = threading.Timer(self.disable_delay_seconds, self._stop_delivering)
            self._disabling.daemon = True
            self._disabling.start()
        self.last_modified = time.time()
        self._wake()

    def _stop_delivering(self) -> None:
        if self.state == "Disabled":
            self.enabled.clear()
            self._wake()

    def _wake(self) -> None:
        for lanes in list(self.lanes.values()):
            for lane in lanes:
                with lane.condition:
                    lane.condition.notify_all()

    # --- observability ---------------------------------------------------------------

    def iterator_age_ms(self) -> dict[str, int]:
        """Per shard: the age of the oldest record read but not yet processed (0 when caught up)."""
        now = time.time()
        ages = {}
        for shard_id, lanes in list(self.lanes.items()):
            oldest = [a for a in (lane.oldest_arrival() for lane in lanes) if a is not None]
            ages[shard_id] = int((now - min(oldest)) * 1000) if oldest else 0
        return ages

    def idle(self) -> bool:
        return all(not lane.buffer and not lane.in_flight for lanes in list(self.lanes.values()) for lane in lanes)

    def lane_count(self) -> int:
        """Lanes of the shards being read now (a finished parent's lanes are done)."""
        with self._shards_lock:
            return sum(len(lanes) for shard_id, lanes in self.lanes.items() if shard_id not in self._finished)

    # --- reading --------------------------------------------------------------------

    def _read_shard(self, shard_id: str, lanes: list[_Lane], position: str) -> None:
        last: str | None = None
        iterator: str | None = None
        throttled = 0
        while not self._stop.is_set():
            if not self.enabled.is_set():
                self.enabled.wait(0.5)
                continue
            try:
                if iterator is None:
                    iterator = self.source.iterator(shard_id, last, position)
                page = self.source.read(iterator)
            except Throttled:
                # The shard's shared reads are spent (other consumers read it too): the iterator
                # stays good; wait for the next second's budget.
                throttled += 1
                log.debug("shard %s: reads throttled (%d in a row)", shard_id, throttled)
                self._stop.wait(min(BUSY_POLL_SECONDS * throttled, IDLE_POLL_SECONDS))
                continue
            except ClientError as exc:
                # ExpiredIteratorException (also the FIS action), anything else: start again after the last read
                code = exc.response["Error"]["Code"]
                log.info("shard %s: %s; re-reading after %s", shard_id, code, last)
                iterator = None
                self._stop.wait(BUSY_POLL_SECONDS)
                continue
            except Exception:  # the endpoint going away at shutdown
                if self._stop.is_set():
                    return
                log.exception("shard %s: read failed", shard_id)
                self._stop.wait(IDLE_POLL_SECONDS)
                continue
            throttled = 0
            records = page.records
            for item in records:
                item.shard_id = shard_id
                last = item.sequence_number
                if self.settings.filters and not any(matches(p, self._filtered(item)) for p in self.settings.filters):
                    continue  # discarded: never in a batch, and the checkpoint passes it
                lane = lanes[zlib.crc32(item.partition_key.encode()) % len(lanes)]
                with lane.condition:
                    while lane.full() and not self._stop.is_set():
                        lane.condition.wait(0.5)
                    lane.buffer.append(item)
                    lane.buffered_bytes += item.size()
                    lane.condition.notify_all()
            iterator = page.next_iterator
            if iterator is None:  # a closed shard, read to its end: its lanes finish it
                log.debug("shard %s: read to its end", shard_id)
                for lane in lanes:
                    with lane.condition:
                        lane.shard_ended = True
                        lane.condition.notify_all()
                with self._shards_lock:
                    self._ended.add(shard_id)
                return
            self._stop.wait(BUSY_POLL_SECONDS * self.readers_per_shard if records else IDLE_POLL_SECONDS)

    # --- batching and invoking ---------------------------------------------------------

    def _next_batch(self, lane: _Lane) -> list[StreamRecord] | None:
        settings = self.settings
        with lane.condition:
            while (not lane.buffer or not self.enabled.is_set()) and not self._stop.is_set():
                if self._window_due(lane) or (lane.shard_ended and not lane.buffer):
                    return []
                lane.condition.wait(0.5)
            if self._stop.is_set():
                return None
            if self._window_due(lane):
                return []
            # "The maximum amount of time ... that Lambda spends gathering records before invoking"
            # (MaximumBatchingWindowInSeconds, Lambda API reference): counted from the moment the
            # batch's first record was read, so records read while the lane was busy wait no longer.
            first_seen = lane.buffer[0].read_at
            while (
                len(lane.buffer) < settings.batch_size
                and time.monotonic() - first_seen < settings.window_seconds
                and not self._stop.is_set()
            ):
                lane.condition.wait(max(0.0, settings.window_seconds - (time.monotonic() - first_seen)))
            batch: list[StreamRecord] = []
            size = 0
            window = self._window_of(lane.buffer[0])
            while lane.buffer and len(batch) < settings.batch_size:
                if batch and size + lane.buffer[0].size() > PAYLOAD_LIMIT_BYTES:
                    break
                if self._window_of(lane.buffer[0]) != window:
                    break  # a batch holds one window's records
                record = lane.buffer.popleft()
                lane.buffered_bytes -= record.size()
                size += record.size()
                batch.append(record)
            lane.in_flight = batch
            lane.condition.notify_all()  # room again for a reader waiting on a full lane
            return batch

    def _run_lane(self, shard_id: str, lane: _Lane) -> None:
        while not self._stop.is_set():
            if self._window_due(lane):
                self._window_invoke(shard_id, lane, final=True)
                continue
            with lane.condition:
                if lane.shard_ended and not lane.buffer:
                    return  # every record of a closed shard processed, its window closed
            batch = self._next_batch(lane)
            if not batch:
                continue
            while not self._stop.is_set():
                try:
                    self._process(batch, lane)
                    break
                except Exception:
                    # The emulator's own failure (a worker that did not start, a read of the
                    # endpoint): AWS would not lose the batch, so the lane keeps it and tries again.
                    with self._stats_lock:
                        self.stats.emulator_errors += 1
                    log.exception("shard %s: the emulator failed on a batch; trying it again", shard_id)
                    self._stop.wait(EMULATOR_RETRY_SECONDS)
            with lane.condition:
                lane.in_flight = []

    def _process(self, batch: list[StreamRecord], lane: _Lane) -> None:
        """Invoke the function with the batch until the rules (local.awslambda.esm_rules) are done with it."""
        settings = self.settings
        windowed = settings.tumbling_window > 0
        plan = BatchPlan(batch, BatchRules(settings.max_retries, settings.max_record_age, settings.bisect))
        while not plan.done and not self._stop.is_set():
            expired = plan.expire(time.time(), lambda record: record.arrival)
            if expired is not None:
                self._to_destination(list(expired.records), "RecordAgeExceeded", expired.invokes, None)
                continue
            current = list(plan.current)
            if windowed and lane.window_start is None:
                lane.window_start = self._window_of(current[0])
            event = self._event(current)
            if windowed:
                event |= self._window_fields(current[0].shard_id, lane, final=False, early=False)
            result = self.pool.invoke(event)
            failed_from = first_to_retry(
                [self.source.identity(r) for r in current],
                result.ok,
                result.payload,
                report_item_failures=settings.report_item_failures,
                needs_state=windowed,
            )
            if windowed and result.ok and failed_from != 0:
                self._keep_state(current[0].shard_id, lane, result)
            step = plan.answered(failed_from, function_error=not result.ok)
            with self._stats_lock:
                stats = self.stats
                stats.invocations += 1
                stats.records_processed += step.processed
                stats.function_errors += not result.ok
                stats.partial_failures += result.ok and failed_from is not None
                stats.bisections += step.bisected
                stats.retries += step.retried
            if step.exhausted:
                self._to_destination(list(step.exhausted), "RetryAttemptsExhausted", step.invokes, result)
            elif step.wait:
                self._stop.wait(step.wait)

    # --- tumbling windows ----------------------------------------------------------------

    def _window_of(self, record: StreamRecord) -> float | None:
        width = self.settings.tumbling_window
        return (record.arrival // width) * width if width > 0 else None

    def _window_due(self, lane: _Lane) -> bool:
        """The open window is over: a later window's record is next, or none came for a while."""
        width = self.settings.tumbling_window
        if width <= 0 or lane.window_start is None or not self.enabled.is_set():
            return False
        if lane.buffer:
            return self._window_of(lane.buffer[0]) != lane.window_start
        if lane.shard_ended:  # "When a shard ends, Lambda considers the current window to be closed"
            return True
        return time.time() >= lane.window_start + width + WINDOW_CLOSE_WAIT_SECONDS

    def _window_fields(self, shard_id: str, lane: _Lane, final: bool, early: bool) -> dict[str, Any]:
        start = lane.window_start or 0.0

        def iso(moment: float) -> str:
            return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        return {
            "window": {"start": iso(start), "end": iso(start + self.settings.tumbling_window)},
            "state": lane.window_state or {},
            "shardId": shard_id,
            "eventSourceARN": self.source.event_source_arn,
            "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": early,
        }

    def _keep_state(self, shard_id: str, lane: _Lane, result: Invocation) -> None:
        """The state of an invocation that succeeded; past 1 MB, the window is terminated early."""
        assert isinstance(result.payload, dict)
        lane.window_state = result.payload["state"]
        if len(json.dumps(lane.window_state, separators=(",", ":")).encode()) > MAX_WINDOW_STATE_BYTES:
            self._window_invoke(shard_id, lane, final=False)

    def _window_invoke(self, shard_id: str, lane: _Lane, final: bool) -> None:
        """The window's final invocation (or, not final, its early termination), without records,
        retried until it succeeds: "If invocation is unsuccessful, your Lambda function suspends
        further processing until a successful invocation" (Lambda developer guide)."""
        delay = 0.05
        while not self._stop.is_set():
            event = {"Records": [], **self._window_fields(shard_id, lane, final=final, early=not final)}
            result = self.pool.invoke(event)
            with self._stats_lock:
                self.stats.invocations += 1
            if result.ok and _has_state(result):
                with self._stats_lock:
                    if final:
                        self.stats.windows_closed += 1
                    else:
                        self.stats.windows_terminated_early += 1
                lane.window_state = {}
                if final:
                    lane.window_start = None
                return
            with self._stats_lock:
                self.stats.function_errors += 1
            self._stop.wait(delay)
            delay = min(delay * 2, 1.0)

    def _event(self, batch: list[StreamRecord]) -> dict[str, Any]:
        return {"Records": [self.source.event_record(r, self.region, self.settings.role_arn) for r in batch]}

    def _filtered(self, record: StreamRecord) -> dict[str, Any]:
        """What FilterCriteria sees of a record: its event record (a Kinesis record's ``data`` as the
        JSON object it holds, as Lambda filters it; not JSON, the data stays base64)."""
        event = self.source.event_record(record, self.region, self.settings.role_arn)
        if "kinesis" in event:
            with contextlib.suppress(ValueError):
                event = {**event, "data": json.loads(record.data)}
        return event

    # --- the on-failure destination ----------------------------------------------------

    def _to_destination(
        self, records: list[StreamRecord], condition: str, invokes: int, result: Invocation | None
    ) -> None:
        now = datetime.now(UTC)

        def iso(moment: float | datetime) -> str:
            value = moment if isinstance(moment, datetime) else datetime.fromtimestamp(moment, UTC)
            return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")

        record: dict[str, Any] = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.settings.function_arn,
                "condition": condition,
                "approximateInvokeCount": invokes,
            },
        }
        if result is not None:
            # Recorded against AWS: absent for RecordAgeExceeded; functionError null (not "") when
            # the function answered and its response failed the batch.
            record["responseContext"] = {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": None if result.ok else "Unhandled",
            }
        record |= {
            "version": "1.0",
            "timestamp": iso(now),
            self.source.batch_info_key: {
                "shardId": records[0].shard_id,
                "startSequenceNumber": records[0].sequence_number,
                "endSequenceNumber": records[-1].sequence_number,
                "approximateArrivalOfFirstRecord": iso(records[0].arrival),
                "approximateArrivalOfLastRecord": iso(records[-1].arrival),
                "batchSize": len(records),
                "streamArn": self.source.event_source_arn,
            },
        }
        destination = self.settings.destination_arn
        with self._stats_lock:
            self.stats.records_to_destination += len(records)
            self.stats.destination_records.append(record)
        if destination is None:
            log.warning("no on-failure destination: %d records skipped", len(records))
            return
        if destination.startswith("arn:aws:s3:::"):
            record["payload"] = json.dumps(self._event(records))
            key = (
                f"aws/lambda/{self.settings.uuid}/{records[0].shard_id}/{now:%Y/%m/%d}/"
                f"{now:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
            )
            bucket = destination.split(":::", 1)[1]
            self._deliver(lambda: self.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(record).encode()))
        elif destination.startswith("arn:aws:sqs:"):
            queue = destination.rsplit(":", 1)[-1]

            def send() -> None:
                url = self.sqs.get_queue_url(QueueName=queue)["QueueUrl"]
                self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))

            self._deliver(send)
        else:
            log.error("unsupported on-failure destination %s", destination)

    def _deliver(self, write: Any) -> None:
        """Write to the destination until it takes the record. AWS counts a failed delivery in
        DestinationDeliveryFailures and documents nothing more; the emulator keeps the records
        rather than lose them, and counts each failure the same way."""
        delay = 0.2
        while True:
            try:
                write()
                return
            except Exception:
                with self._stats_lock:
                    self.stats.destination_delivery_failures += 1
                if self._stop.is_set():
                    raise
                log.exception("on-failure destination %s: delivery failed; trying again", self.settings.destination_arn)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
