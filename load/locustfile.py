"""Locust load tests for Weir: the truth about every record.

Users:
* ``IngestUser`` posts batches of envelopes to ``POST /events`` (SigV4-signed for ``execute-api``
  when ``WEIR_SIGV4=1``, as the deployed API requires; plain against the local runtime).
* ``KinesisUser`` writes straight to the stream through the ``weir`` producer; every PutRecords call
  is one Locust request, and throttled entries and resubmissions are reported as their own rows.

Shapes (``WEIR_SHAPE``): ``step`` up to the shards' write limit, ``hold2x`` at twice the limit,
``spike``, ``soak``. Every run ends with a reconciliation (load/reconcile.py): each event id sent is
found in the events table, the quarantine or the failure destination, or it is reported lost and the
run fails.

Configuration comes from the stack's outputs (tools/stack.py): build/local-stack.json for the local
runtime, or CloudFormation for ``WEIR_STACK``.

Distributed (``--master`` / ``--worker``): each worker keeps its own ledger and sends it to the
master when the load ends (load/distributed.py); the master prints the progress line and reconciles
once. A file named by ``WEIR_ABORT_FILE`` (``make load`` writes it on Ctrl-C) stops the drain and
the reconciliation at once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from locust import HttpUser, LoadTestShape, User, between, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from load.distributed import Collector, counts_of, send_ledger
from load.events import make_events
from load.plot import Timeline
from load.progress import Consumer, Counts, line
from load.reconcile import DrainStatus, Interrupted, Ledger, reconcile
from tools.stack import StackInfo, load_stack

STACK: StackInfo | None = None
LEDGER = Ledger()
COLLECTOR = Collector(LEDGER)
TIMELINE = Timeline()
METRICS_FILE = Path(__file__).resolve().parent.parent / "build" / "local-metrics.json"
EVENTS_PER_REQUEST = int(os.environ.get("WEIR_EVENTS_PER_REQUEST", "50"))
PROGRESS_SECONDS = float(os.environ.get("WEIR_PROGRESS_SECONDS", "5"))
SHARD_RECORDS_PER_SECOND = 1000
# botocore logs "Found credentials in environment variables." at INFO for every new session.
logging.getLogger("botocore").setLevel(logging.WARNING)


# Locust has patched threading for gevent by now: a greenlet waiting here lets the first one finish.
_STACK_LOCK = threading.Lock()


def stack() -> StackInfo:
    """The stack's outputs and clients, loaded once: without the lock, every user starting while the
    first DescribeStacks call is on the wire would load its own (150 users: 150 sessions and clients,
    seconds of CPU before the first event is sent)."""
    global STACK
    with _STACK_LOCK:
        if STACK is None:
            STACK = load_stack()
        return STACK


def metrics_file() -> Path | None:
    return None if os.environ.get("WEIR_STACK") else METRICS_FILE


def aborted() -> bool:
    marker = os.environ.get("WEIR_ABORT_FILE")
    return marker is not None and Path(marker).exists()


class IngestUser(HttpUser):
    """One client of the ingest API."""

    wait_time = between(0.05, 0.15)
    weight = 3

    def on_start(self) -> None:
        self._signer = stack().signer() if os.environ.get("WEIR_SIGV4") == "1" else None

    @task
    def post_events(self) -> None:
        batch = make_events(EVENTS_PER_REQUEST)
        ids = [e["event_id"] for e in batch]
        body = json.dumps({"events": batch})
        headers = {"Content-Type": "application/json"}
        if self._signer is not None:
            headers.update(self._signer("POST", f"{self.host}/events", body))
        LEDGER.sent(ids)
        with self.client.post(
            "/events", data=body, headers=headers, name="POST /events", catch_response=True
        ) as response:
            outcomes = _outcomes(response) if response.status_code in (202, 503) else None
            if outcomes is not None:  # the ingest function's answer: an outcome for every event
                LEDGER.accepted(
                    (o["event_id"] for o in outcomes if o["status"] == "written"),
                    (o["event_id"] for o in outcomes if o["status"] == "spilled"),
                )
                LEDGER.not_taken([o["event_id"] for o in outcomes if o["status"] == "not_taken"])
                if response.status_code == 503:
                    refused = sum(1 for o in outcomes if o["status"] == "not_taken")
                    response.failure(f"503: {refused} events not taken")
            elif response.status_code == 202:
                # accepted, but not as the function answers: what was taken cannot be told
                LEDGER.unanswered(ids)
                response.failure("202 without an outcome per event")
            elif response.status_code == 0:
                # no answer (connection reset, timeout): taken or not, the client cannot tell
                LEDGER.unanswered(ids)
                response.failure("no answer")
            else:
                # API Gateway's own 429 or 503 (the function's concurrency is exhausted: it never
                # ran), 4xx, 5xx: nothing of the request was taken
                LEDGER.not_taken(ids)
                response.failure(f"{response.status_code}")


def _outcomes(response: Any) -> list[dict[str, Any]] | None:
    """The ingest function's per-event outcomes, or None when the answer is not the function's."""
    try:
        outcomes = response.json().get("events")
    except (ValueError, AttributeError):
        return None
    return outcomes if isinstance(outcomes, list) else None


class KinesisUser(User):
    """A producer writing to the stream directly through the weir producer."""

    wait_time = between(0.05, 0.15)
    weight = 1

    def on_start(self) -> None:
        self._producer = stack().producer(self.environment)

    @task
    def put_records(self) -> None:
        from weir.deadline import Deadline
        from weir.producer import Record

        batch = make_events(EVENTS_PER_REQUEST * 2)
        LEDGER.sent([e["event_id"] for e in batch])
        records = [Record(json.dumps(e).encode(), e["partition_key"]) for e in batch]
        result = self._producer.put(records, Deadline(10))
        LEDGER.accepted([e["event_id"] for e, o in zip(batch, result.outcomes, strict=True) if o.ok])
        LEDGER.not_taken([e["event_id"] for e, o in zip(batch, result.outcomes, strict=True) if not o.ok])
        fire = self.environment.events.request.fire
        for name, value in (
            ("records", result.stats.records),
            ("throttled entries", result.stats.throttled_entries),
            ("resubmitted entries", result.stats.resubmitted_entries),
        ):
            fire(request_type="KINESIS", name=name, response_time=0, response_length=value, exception=None, context={})


class WeirShape(LoadTestShape):
    """Users over time, as chosen by WEIR_SHAPE; WEIR_DURATION bounds every shape (seconds).

    On a distributed master, the run then waits with no users until every worker's ledger is in."""

    def tick(self) -> tuple[int, float] | None:
        duration = float(os.environ.get("WEIR_DURATION", "60"))
        elapsed = self.get_run_time()  # type: ignore[no-untyped-call]
        peak = int(os.environ.get("WEIR_PEAK_USERS", "12"))
        if elapsed > duration:
            if isinstance(self.runner, MasterRunner) and not aborted() and not COLLECTOR.collected(self.runner):
                return 0, max(1, peak)
            return None
        shape = os.environ.get("WEIR_SHAPE", "step")
        if shape == "step":  # five steps up to the peak
            return max(1, int(peak * min(1.0, (int(elapsed / (duration / 5)) + 1) / 5))), peak
        if shape == "hold2x":  # straight to the peak (sized as twice the limit) and hold
            return peak, peak
        if shape == "spike":  # a fifth of the peak, a spike in the middle, back down
            middle = duration * 0.4 <= elapsed <= duration * 0.6
            return (peak if middle else max(1, peak // 5)), peak
        if shape == "soak":  # half the peak for the whole duration
            return max(1, peak // 2), peak
        raise ValueError(f"WEIR_SHAPE must be step, hold2x, spike or soak, not {shape!r}")


def _counts(environment: Environment) -> Counts:
    if isinstance(environment.runner, MasterRunner):
        return COLLECTOR.counts()
    return Counts(**counts_of(LEDGER))


@events.init.add_listener  # type: ignore[untyped-decorator]
def _wire(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        COLLECTOR.register(runner)
    elif isinstance(runner, WorkerRunner):
        runner.register_message("weir_ledger_request", lambda *_a, **_k: send_ledger(runner, LEDGER))


@events.test_start.add_listener  # type: ignore[untyped-decorator]
def _start_sampling(environment: Environment, **_: Any) -> None:
    """Every second a sample for the plot; every PROGRESS_SECONDS the progress line (workers send
    their counts to the master instead)."""
    import gevent

    started = time.monotonic()
    loading = [True]
    environment.events.test_stop.add_listener(lambda **_: loading.__setitem__(0, False))  # type: ignore[no-untyped-call]

    def sample() -> None:
        last_line = 0.0
        while True:
            now = time.monotonic()
            if isinstance(environment.runner, WorkerRunner):  # the master samples the sum, each second
                environment.runner.send_message("weir_progress", counts_of(LEDGER))
            else:
                counts = _counts(environment)
                TIMELINE.add(counts.sent, counts.accepted, metrics_file())
                if loading[0] and now - last_line >= PROGRESS_SECONDS:  # the drain prints its own
                    print(line("load", now - started, counts, Consumer.read(metrics_file())), flush=True)
                    last_line = now
            gevent.sleep(1.0)

    gevent.spawn(sample)


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def _reconcile(environment: Environment, **_: Any) -> None:
    """Account for every event sent; any lost event fails the run."""
    if isinstance(environment.runner, WorkerRunner):
        return
    if aborted():
        print("interrupted: no reconciliation", flush=True)
        environment.process_exit_code = 130
        return
    started = time.monotonic()
    counts = Counts(**counts_of(LEDGER))  # complete now: on a master, every worker's is merged in
    last = [0.0]

    def on_poll(status: DrainStatus) -> None:
        now = time.monotonic()
        if status.done or now - last[0] >= PROGRESS_SECONDS:
            last[0] = now
            consumer = Consumer.read(metrics_file())
            stored = status.stored if status.stored or status.done else None  # known after a full pass
            print(line("drain", now - started, counts, consumer, stored=stored), flush=True)

    try:
        report = reconcile(
            LEDGER,
            stack(),
            timeout=float(os.environ.get("WEIR_DRAIN_SECONDS", "120")),
            on_poll=on_poll,
            interrupted=aborted,
        )
    except Interrupted:
        print("interrupted: reconciliation stopped", flush=True)
        environment.process_exit_code = 130
        return
    if COLLECTOR.done:
        report.notes.append(f"ledgers from {len(COLLECTOR.done)} workers, reconciled once by the master")
    if COLLECTOR.missing:
        report.notes.append(f"no ledger from workers {', '.join(COLLECTOR.missing)}: their events are not counted")
    print(report.render(), flush=True)
    report.write(os.environ.get("WEIR_REPORT_DIR", "reports"))
    concurrency = TIMELINE.concurrency()
    if concurrency is not None:
        print(f"consumer concurrency: peak {concurrency[0]} concurrent batches, cap {concurrency[1]}", flush=True)
    plot = Path(os.environ.get("WEIR_REPORT_DIR", "reports")) / "throughput.png"
    if TIMELINE.plot(plot, f"Weir under load ({os.environ.get('WEIR_SHAPE', 'step')})"):
        print(f"plot: {plot}", flush=True)
    # a load test that sent nothing proved nothing; one missing a worker's ledger proved too little
    if report.lost or report.sent == 0 or COLLECTOR.missing:
        environment.process_exit_code = 1
