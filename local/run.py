"""``make run``: the pipeline end to end on this machine, ending in a ledger of every event.

Starts the local runtime (endpoint, template deployed, functions, event source mapping, HTTP API),
then drives a demo workload through ``POST /events``: steady traffic, a burst above the shards'
write limit, a few poison records from a misbehaving producer, and a short outage of the events
table with the circuit breaker forced closed (so batches run out of retries). It waits for the
consumer to drain the stream, redrives the on-failure destination and the overflow queue, waits
again; then a long outage with the breaker automatic (until the breaker function has paused the
consumer's mapping, and then until just before its next run resumes it), which must send nothing
to the failure destination. Some events are posted twice along the way. At the end the second consumer's windows
close, and its counts per event type must equal the events table's. It prints a ledger: sent /
accepted / in the events table / quarantined / in the failure destination / redriven / the long
outage's events / lost / the aggregates per type, and exits non-zero unless lost is 0, the long
outage sent nothing to the failure destination and the aggregates match.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3

from local.cloudformation.deployer import local_client, local_credentials
from local.endpoint import DEFAULT_PORT
from local.kinesis.shards import placement_key
from local.runtime import LocalRuntime
from tools.readback import failure_destination_event_ids, peek_queue
from tools.template import ROOT, load_template, parse_overrides

LEDGER_PATH = ROOT / "build" / "ledger.json"
_TYPE = {"#type": "type"}  # "type" is a reserved word in DynamoDB's expressions
POISON_RECORDS = 5
DUPLICATES = 20
# The circuit breaker's acceptance: a long outage, every accepted event stored within the recovery
# time after it, none through the failure destination. It lasts until the breaker function has
# paused the consumer's mapping and then until just before its next run (Demo.long_outage_end), at
# least LONG_OUTAGE_MIN_SECONDS; scaled down by --scale (tests), a fixed max(30 s, 90 s x scale).
LONG_OUTAGE_MIN_SECONDS = 30.0
LONG_OUTAGE_MAX_SECONDS = 150.0
LONG_OUTAGE_SCALED_SECONDS = 90.0
LONG_OUTAGE_RECOVERY_SECONDS = 180.0


class Demo:
    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime
        self.http = urllib3.PoolManager(maxsize=16, retries=False, timeout=urllib3.Timeout(connect=2, read=30))
        endpoint = runtime.environment()["AWS_ENDPOINT_URL"]
        self.kinesis = local_client("kinesis", endpoint)
        self.dynamodb = local_client("dynamodb", endpoint)
        self.sqs = local_client("sqs", endpoint)
        self.s3 = local_client("s3", endpoint)
        self.outputs = runtime.outputs()
        self.lock = threading.Lock()
        self.sent: set[str] = set()
        self.accepted: set[str] = set()
        self.not_taken: set[str] = set()
        self.status: dict[int, int] = {}
        self.events_table = self.outputs["EventsTableName"]
        self.bodies: dict[str, dict[str, Any]] = {}  # every event sent, by id
        self.consumer_was_paused = False

    # --- traffic ------------------------------------------------------------------------

    def post(self, events: list[dict[str, Any]]) -> None:
        response = self.http.request(
            "POST",
            f"{self.runtime.api_url}/events",
            body=json.dumps({"events": events}).encode(),
            headers={"Content-Type": "application/json"},
        )
        body = json.loads(response.data or b"{}")
        with self.lock:
            self.sent.update(e["event_id"] for e in events)
            self.bodies.update((e["event_id"], e) for e in events)
            self.status[response.status] = self.status.get(response.status, 0) + 1
            for outcome in body.get("events", []):
                (self.accepted if outcome["status"] in {"written", "spilled"} else self.not_taken).add(
                    outcome["event_id"]
                )

    def phase(self, name: str, requests: int, size: int, workers: int, keys: list[str] | None = None) -> None:
        batches = [[_event(name, r * size + i, keys) for i in range(size)] for r in range(requests)]
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(self.post, batches))

    def repost(self, count: int) -> None:
        """Post ``count`` accepted events again, unchanged (a client retrying after a lost answer)."""
        self.post([self.bodies[event_id] for event_id in sorted(self.accepted)[:count]])

    def keys_on_first_shard(self, count: int) -> list[str]:
        """Partition keys whose MD5 lands in the stream's first shard, as Kinesis places them."""
        shard = self.kinesis.list_shards(StreamName=self.outputs["StreamName"])["Shards"][0]["HashKeyRange"]
        low, high = int(shard["StartingHashKey"]), int(shard["EndingHashKey"])
        keys = (f"hot-device-{n}" for n in range(100_000))
        return [key for key in keys if low <= placement_key(key) <= high][:count]

    def poison(self) -> None:
        """A misbehaving producer writes records that are not envelopes, straight to the stream."""
        self.kinesis.put_records(
            StreamName=self.outputs["StreamName"],
            Records=[{"Data": f"not json #{i}".encode(), "PartitionKey": f"poison-{i}"} for i in range(POISON_RECORDS)],
        )

    # --- reading back -------------------------------------------------------------------

    def _scan(self, table: str, **request: Any) -> Iterator[dict[str, Any]]:
        """Every item of ``table``, page after page."""
        kwargs: dict[str, Any] = {"TableName": table, **request}
        while True:
            page = self.dynamodb.scan(**kwargs)
            yield from page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def stored(self) -> dict[str, str]:
        """Every event in the events table: its id and its type."""
        items = self._scan(self.events_table, ProjectionExpression="event_id, #type", ExpressionAttributeNames=_TYPE)
        return {item["event_id"]["S"]: item.get("type", {}).get("S", "") for item in items}

    def stored_ids(self) -> set[str]:
        return set(self.stored())

    def store_latencies(self) -> dict[str, list[float]]:
        """Milliseconds from the API's acceptance to the events table (``stored_at - accepted_at`` of
        each stored event), per event type, read from the table as a user would."""
        found: dict[str, list[float]] = {}
        projection = "#type, accepted_at, stored_at"
        for item in self._scan(self.events_table, ProjectionExpression=projection, ExpressionAttributeNames=_TYPE):
            if "accepted_at" in item and "stored_at" in item:
                accepted, stored = (_moment(item[k]["S"]) for k in ("accepted_at", "stored_at"))
                found.setdefault(item["type"]["S"], []).append((stored - accepted).total_seconds() * 1000)
        return found

    def dashboard_latency(self, since: float) -> dict[str, dict[str, float | int]]:
        """p50 and p99 of the consumers' latency metrics since ``since`` (epoch seconds), asked of the
        local CloudWatch as the dashboard asks CloudWatch (the functions' EMF, fed from their logs)."""
        assert self.runtime.log_feed is not None
        self.runtime.log_feed.feed()  # what the functions wrote up to now
        cloudwatch = local_client("cloudwatch", self.runtime.environment()["AWS_ENDPOINT_URL"])
        start = int(since) // 60 * 60
        period = (int(time.time()) + 60 - start) // 60 * 60 + 60
        queries = {
            "ingest to events table": ("IngestToStoreLatency", "process"),
            "ingest to aggregates": ("IngestToAggregateLatency", "aggregate"),
            "redriven, to events table": ("RedrivenIngestToStoreLatency", "process"),
        }
        stats = ("p50", "p99", "SampleCount")
        # one call: a query per metric and statistic (ids must start with a letter)
        ids = {key: f"q{n}" for n, key in enumerate(itertools.product(queries, stats))}
        answer = cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": ids[(label, stat)],
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "Weir",
                            "MetricName": queries[label][0],
                            "Dimensions": [{"Name": "service", "Value": queries[label][1]}],
                        },
                        "Period": period,
                        "Stat": stat,
                    },
                }
                for (label, stat) in ids
            ],
            StartTime=datetime.fromtimestamp(start, UTC),
            EndTime=datetime.fromtimestamp(start + period, UTC),
        )
        values = {result["Id"]: (result["Values"] or [0])[0] for result in answer["MetricDataResults"]}
        figures: dict[str, dict[str, float | int]] = {
            label: {
                "events": int(values[ids[(label, "SampleCount")]]),
                "p50_ms": values[ids[(label, "p50")]],
                "p99_ms": values[ids[(label, "p99")]],
            }
            for label in queries
        }
        return figures

    def aggregate_counts(self) -> dict[str, int]:
        """The second consumer's counts per type, over every window (the aggregates table)."""
        found: dict[str, int] = {}
        for item in self._scan(self.outputs["AggregatesTableName"]):
            found[item["type"]["S"]] = found.get(item["type"]["S"], 0) + int(item["count"]["N"])
        return found

    def wait_for_windows(self, timeout: float) -> bool:
        """Wait until the second consumer has nothing unread and every window it opened is closed."""
        mapping = self.runtime.mapping("AggregateFunction")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            open_windows = [lane for lanes in mapping.lanes.values() for lane in lanes if lane.window_start is not None]
            if mapping.idle() and not open_windows:
                return True
            time.sleep(0.5)
        return False

    def queue_depth(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def failure_records(self) -> set[str]:
        """Event ids sitting in the S3 on-failure destination (records themselves are in the objects)."""
        arn = self.outputs["FailureDestinationArn"]
        if not arn.startswith("arn:aws:s3:::"):
            return set()
        return failure_destination_event_ids(self.s3, arn.split(":::", 1)[1])

    def overflow_ids(self) -> set[str]:
        """Every event id in the overflow queue (the queue is left as it was)."""
        return {
            json.loads(body)["event"]["event_id"] for body in peek_queue(self.sqs, self.outputs["OverflowQueueUrl"])
        }

    def long_outage_end(self, started: float, scale: float) -> Callable[[], float]:
        """When the long outage ends (``time.monotonic()``), asked again as it goes.

        The consumer's breaker opens within seconds of the sink failing, and the breaker function,
        every minute, pauses the consumer's mapping while it is open and resumes it once a probe of
        the sink succeeds. So the outage goes on until that pause, then until five seconds before
        the breaker function's next run: that run finds the sink healthy, and the recovery shows
        with no minute's wait. Scaled down (the tests), the outage is a fixed length.
        """
        self.consumer_was_paused = False
        if scale < 1:
            fixed = started + max(LONG_OUTAGE_MIN_SECONDS, LONG_OUTAGE_SCALED_SECONDS * scale)
            return lambda: fixed
        runtime = self.runtime
        schedule = runtime.scheduler.of(runtime.pools["BreakerFunction"]) if runtime.scheduler else None
        mapping = runtime.mapping("ProcessFunction")
        latest = started + LONG_OUTAGE_MAX_SECONDS

        def end() -> float:
            now = time.monotonic()
            if mapping.state == "Disabled":
                self.consumer_was_paused = True
            if not self.consumer_was_paused or schedule is None:
                return latest
            if schedule.next_at <= now:
                return now + 1  # the run that paused it is still finishing: ask again in a second
            return min(latest, max(started + LONG_OUTAGE_MIN_SECONDS, schedule.next_at - 5))

        return end

    @staticmethod
    def sleep_until(step: Callable[[], float], outage_ends: Callable[[], float]) -> None:
        """Sleep until the next step of traffic or the end of the outage, whichever comes first."""
        step_at = step()
        while time.monotonic() < min(step_at, outage_ends()):
            time.sleep(0.5)

    def wait_for_drain(self, label: str, timeout: float) -> bool:
        """Wait until the mapping has nothing read and unprocessed; show progress meanwhile.

        Progress comes from the emulator's counters: scanning the table here would take CPU from the
        consumer it is watching."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        tty = sys.stdout.isatty()
        last_line = 0.0
        while time.monotonic() < deadline:
            stats = [m.stats for m in self.runtime.mappings]
            line = (
                f"  {label:<14} processed {sum(s.records_processed for s in stats):>6}  "
                f"invocations {sum(s.invocations for s in stats):>5}  retries {sum(s.retries for s in stats):>4}  "
                f"to destination {sum(s.records_to_destination for s in stats):>4}  "
                f"iterator age {self.runtime.iterator_age_ms():>6} ms"
            )
            if tty:
                print("\r" + line, end="", flush=True)
            elif time.monotonic() - last_line >= 5:
                print(line, flush=True)
                last_line = time.monotonic()
            if self.runtime.idle():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 2.5:  # longer than a poll and a batching window
                    if tty:
                        print()
                    return True
            else:
                quiet_since = None
            time.sleep(0.5)
        if tty:
            print()
        return False


def _event(phase: str, i: int, keys: list[str] | None = None) -> dict[str, Any]:
    return {
        "event_id": f"{phase}-{i}-{uuid.uuid4().hex[:8]}",
        "type": f"demo.{phase.split('-')[0]}",
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "partition_key": keys[i % len(keys)] if keys else f"device-{i % 64}",
        "payload": {"n": i, "phase": phase},
    }


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def percentiles(values: list[float]) -> dict[str, float | int]:
    """p50 and p99 (nearest rank) of ``values``, in milliseconds, and how many there are."""
    if not values:
        return {"events": 0}
    ordered = sorted(values)

    def rank(share: float) -> float:
        return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 1)

    return {"events": len(ordered), "p50_ms": rank(0.50), "p99_ms": rank(0.99)}


def _timed(label: str, action: Callable[[], None]) -> None:
    started = time.monotonic()
    action()
    print(f"  {label:<44} {time.monotonic() - started:5.1f} s", flush=True)


DEMO_PHASES = ("steady", "burst", "outage", "long")
DEMO_PARAMETERS = {"TumblingWindowInSeconds": "20"}


def not_weirs_own_stream(template: dict[str, Any]) -> str | None:
    """Why this checkout's stream is not the one the demo is written for (a fork's), or None.

    The demo sends Weir's sample stream (types of its own, ``demo.<phase>``, with any payload) and
    reads what was stored back from the events table: a domain that refuses those types, or a
    consumer whose sink writes somewhere else, would show a ledger of events it refused or never
    stored, so it is not shown one.
    """
    from weir.domain import EVENT_TYPES
    from weir.models import Event
    from weir.payloads import EventRejected

    for phase in DEMO_PHASES:
        sample = _event(phase, 0)
        try:
            EVENT_TYPES.validate(Event.model_validate(sample))
        except EventRejected as exc:
            return f"this stream's event types (weir.domain.EVENT_TYPES) refuse the demo's events ({exc})"
    process = template.get("Resources", {}).get("ProcessFunction", {}).get("Properties", {})
    variables = process.get("Environment", {}).get("Variables", {})
    if variables.get("EVENTS_TABLE_NAME") != {"Ref": "EventsTable"}:
        return "the process consumer's sink does not store into the events table (its settings in template.yaml)"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Weir end to end on this machine")
    parser.add_argument("--params", default="", help='template parameter overrides, "Key=Value Key2=Value2"')
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--api-port", type=int, default=3000)
    parser.add_argument("--ledger", type=Path, default=LEDGER_PATH)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the workload (tests use less)")
    args = parser.parse_args(argv)
    try:
        # The demo's own setting: windows of 20 s rather than the template's 60 s, so that the last
        # window closes soon after the last events are stored (PARAMS overrides it too).
        params = {**DEMO_PARAMETERS, **parse_overrides(args.params)}
    except ValueError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 2
    refusal = not_weirs_own_stream(load_template())
    if refusal:
        print(
            f"make run: Weir's demonstration reads Weir's own stream back, and {refusal}.\n"
            "  Run your pipeline with `make up` (docs/local.md) and send it your own clients' events;\n"
            "  tests/e2e/test_fork_pipeline.py shows a fork's end-to-end check (docs/fork-guide.md, Step 4).",
            file=sys.stderr,
        )
        return 2
    os.environ.update(local_credentials())
    started = time.monotonic()
    started_at = time.time()
    try:
        runtime = LocalRuntime(params, port=args.port, api_port=args.api_port).start()
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"make run: cannot start the local runtime: {exc}", file=sys.stderr)
        return 2
    try:
        demo = Demo(runtime)
        print(f"Weir running locally: API {runtime.api_url}, AWS endpoint {runtime.environment()['AWS_ENDPOINT_URL']}")
        print(f"  started in {time.monotonic() - started:.1f} s (template deployed, functions warm)")
        if runtime.stack is not None:
            window = runtime.stack.parameters["TumblingWindowInSeconds"]
            print(f"  aggregates per {window} s window (make run's setting; the template's default is 60 s)")
        scale = args.scale
        # Sized for this machine (two cores shared by every function, the endpoint and the backends),
        # and the burst must still cross the shards' write limit (ShardCount x 1,000 records/s) to
        # show throttling.
        _timed("steady: 200 events in 10 requests", lambda: demo.phase("steady", max(1, int(10 * scale)), 20, 2))
        # A hot shard: 3,000 events in about a second, all with keys that hash to one shard, which
        # takes 1,000 records/s. Two requests at a time: the two warm ingest workers (a third would
        # meet a cold start and spread the burst out).
        hot = demo.keys_on_first_shard(64)
        _timed("burst: 3,000 events on one hot shard", lambda: demo.phase("burst", 6, 500, 2, keys=hot))
        _timed(f"poison: {POISON_RECORDS} non-envelope records", demo.poison)
        _timed(f"duplicates: {DUPLICATES} accepted events posted again", lambda: demo.repost(DUPLICATES))
        assert runtime.endpoint is not None
        assert runtime.endpoint.server is not None
        # The events table throttles every write until a batch has used up MaximumRetryAttempts and
        # gone to the on-failure destination (at most a minute), then recovers. The circuit breaker
        # would hold the batches instead (the long outage below shows it): forced closed here, so the
        # retries' path to the failure destination and the redrive are shown too.
        breaker = runtime.pools["BreakerFunction"]
        breaker.invoke({"force": "closed", "reason": "make run: the retries' path, on purpose"})
        faults = runtime.endpoint.server.gateway.faults
        outage = faults.add(
            {
                "service": "dynamodb",
                "operation": "PutItem",
                "error": "ProvisionedThroughputExceededException",
                "match": {"TableName": demo.events_table},
                "duration_s": 60,
            }
        )
        outage_started = time.monotonic()
        demo.phase("outage", 4, max(1, int(25 * scale)), 2)
        while time.monotonic() - outage_started < 60:
            if any(m.stats.records_to_destination for m in runtime.mappings):
                break
            time.sleep(0.2)
        faults.remove(outage.id)
        outage_seconds = time.monotonic() - outage_started
        print(f"  {'sink outage: the events table throttles every write':<44} {outage_seconds:5.1f} s", flush=True)
        demo.wait_for_drain("draining", timeout=90)
        in_destination_before = len(demo.failure_records())
        overflow_before = len(demo.overflow_ids())
        redrive = runtime.pools["RedriveFunction"].invoke({"sources": ["s3-failures", "sqs-failures", "overflow"]})
        report = redrive.payload if redrive.ok else {"error": redrive.payload}
        redriven = sum(c.get("events_redriven", 0) for c in report.get("counts", {}).values()) if redrive.ok else 0
        print(
            f"  redrive: {redriven} records back on the stream "
            f"({in_destination_before} from the failure destination, {overflow_before} from overflow)"
        )
        demo.wait_for_drain("after redrive", timeout=60)
        breaker.invoke({"force": "release"})

        # A long outage, with the breaker automatic: it opens, the consumer holds its batches, the
        # breaker function pauses the mapping; nothing goes to the failure destination, no redrive.
        to_destination_before = sum(m.stats.records_to_destination for m in runtime.mappings)
        long_outage = faults.add(
            {
                "service": "dynamodb",
                "operation": "PutItem",
                "error": "ProvisionedThroughputExceededException",
                "match": {"TableName": demo.events_table},
            }
        )
        long_started = time.monotonic()
        accepted_before = set(demo.accepted)
        outage_ends = demo.long_outage_end(long_started, scale)
        while time.monotonic() < outage_ends():
            demo.phase("long-outage", 2, max(1, int(25 * scale)), 2)
            demo.sleep_until(lambda: time.monotonic() + 10, outage_ends)
        faults.remove(long_outage.id)
        long_seconds = time.monotonic() - long_started
        paused = " and the mapping paused" if demo.consumer_was_paused else ""
        label = f"long outage, the breaker holding{paused}"
        print(f"  {label:<44} {long_seconds:5.1f} s", flush=True)
        long_events = demo.accepted - accepted_before
        recovery_deadline = time.monotonic() + LONG_OUTAGE_RECOVERY_SECONDS
        while time.monotonic() < recovery_deadline and not long_events <= demo.stored_ids():
            time.sleep(1)
        long_recovered = time.monotonic() - (recovery_deadline - LONG_OUTAGE_RECOVERY_SECONDS)
        long_to_destination = sum(m.stats.records_to_destination for m in runtime.mappings) - to_destination_before
        long_missing = len(long_events - demo.stored_ids())
        print(
            f"  after the long outage: {len(long_events) - long_missing} of {len(long_events)} events stored "
            f"{long_recovered:.0f} s after it ended, {long_to_destination} to the failure destination",
            flush=True,
        )

        # The second consumer: every window closed, its counts per type against the events table's.
        window = float(runtime.stack.parameters["TumblingWindowInSeconds"]) if runtime.stack else 60.0
        closing_started = time.monotonic()
        windows_closed = demo.wait_for_windows(timeout=window + 60)
        label = "aggregates: the last windows closed" if windows_closed else "aggregates: windows still open"
        print(f"  {label:<44} {time.monotonic() - closing_started:5.1f} s", flush=True)
        aggregates = demo.aggregate_counts()

        stored_types = demo.stored()
        stored = set(stored_types)
        assert runtime.stack is not None
        quarantined = demo.queue_depth(runtime.stack.physical_ids["QuarantineQueue"])
        in_destination = demo.failure_records()
        waiting = in_destination | demo.overflow_ids()
        lost = sorted(demo.accepted - stored - waiting)
        # The second consumer counts what the first stored: per type, the events table's own count.
        expected: dict[str, int] = {}
        for type_ in stored_types.values():
            expected[type_] = expected.get(type_, 0) + 1
        by_type = {
            t: {"events": expected.get(t, 0), "aggregates": aggregates.get(t, 0)}
            for t in sorted(set(expected) | set(aggregates))
        }
        aggregate_differences = sum(1 for v in by_type.values() if v["events"] != v["aggregates"])
        latencies = demo.store_latencies()
        latency_figures = {
            "steady traffic": percentiles(latencies.get("demo.steady", [])),
            "every event (outages included)": percentiles([v for vs in latencies.values() for v in vs]),
        }
        dashboard = demo.dashboard_latency(started_at)
        ledger = {
            "sent": len(demo.sent),
            "accepted": len(demo.accepted),
            "not_taken_503": len(demo.not_taken),
            "in_events_table": len(demo.accepted & stored),
            "poison_sent": POISON_RECORDS,
            "quarantined": quarantined,
            "in_failure_destination": len(in_destination),
            "went_to_failure_destination": sum(m.stats.records_to_destination for m in runtime.mappings),
            "long_outage_events": len(long_events),
            "long_outage_to_failure_destination": long_to_destination,
            "long_outage_not_stored": long_missing,
            "redriven": redriven,
            "redrive_report": report,
            "still_waiting": len(waiting & demo.accepted),
            "lost": len(lost),
            "lost_event_ids": lost[:20],
            "http_status": {str(k): v for k, v in sorted(demo.status.items())},
            "shard_throttled_entries": runtime.endpoint.server.gateway.limiter.throttled,
            "consumer_invocations": sum(m.stats.invocations for m in runtime.mappings),
            "duplicates_posted": DUPLICATES,
            "aggregates_by_type": by_type,
            "aggregates_windows_closed": runtime.mapping("AggregateFunction").stats.windows_closed,
            "aggregates_differences": aggregate_differences,
            "ingest_to_store_latency": latency_figures,
            "dashboard_latency": dashboard,
            "seconds": round(time.monotonic() - started, 1),
        }
    finally:
        runtime.stop()
    args.ledger.parent.mkdir(parents=True, exist_ok=True)
    args.ledger.write_text(json.dumps(ledger, indent=2) + "\n")
    print("Ledger:")
    for key in (
        "sent",
        "accepted",
        "not_taken_503",
        "in_events_table",
        "poison_sent",
        "quarantined",
        "went_to_failure_destination",
        "redriven",
        "long_outage_events",
        "long_outage_to_failure_destination",
        "long_outage_not_stored",
        "in_failure_destination",
        "still_waiting",
        "lost",
    ):
        print(f"  {key:<36} {ledger[key]}")
    print("  aggregates per type (events table = aggregates table):")
    for type_, pair in by_type.items():
        mark = "ok" if pair["events"] == pair["aggregates"] else "DIFFERENT"
        print(f"    {type_:<34} {pair['events']:>6} = {pair['aggregates']:<6} {mark}")
    print("  ingest to store latency (accepted_at to stored_at, from the events table):")
    for phase, figures in latency_figures.items():
        if figures["events"]:
            print(f"    {phase:<34} p50 {figures['p50_ms']:>8,.0f} ms  p99 {figures['p99_ms']:>8,.0f} ms")
    print("  latency as the dashboard graphs it (the consumers' metrics, live events; the local CloudWatch):")
    for label, graphed in dashboard.items():
        if graphed["events"]:
            print(
                f"    {label:<34} p50 {graphed['p50_ms']:>8,.0f} ms  p99 {graphed['p99_ms']:>8,.0f} ms"
                f"  ({graphed['events']:,} events)"
            )
    print(f"  ({ledger['seconds']} s; written to {args.ledger})")
    # Lost must be 0, every poison record in the quarantine, and the long outage survived without
    # the failure destination, or the run failed.
    long_failed = ledger["long_outage_to_failure_destination"] or ledger["long_outage_not_stored"]
    aggregates_wrong = ledger["aggregates_differences"]
    return 1 if lost or quarantined < POISON_RECORDS or long_failed or aggregates_wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
