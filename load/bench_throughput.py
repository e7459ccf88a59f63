"""B2: writers that share nothing, at half and at twice the write limit of N local shards, with and
without shard rates: goodput, retry amplification, loss.

Each writer is a process of its own, as separate Lambda instances are: its own client, its own
``weir`` producer and, with shard rates (weir.shard_rate), its own idea of each shard's rate. Together
they offer records at a multiple of the shards' limit (1,000 records/s each) through the local
endpoint's shard limiter, in batches of 250 with random keys, for the same seconds. The baseline, in
the same run, is the producer as it was before shard rates (resubmission with backoff only) at half
the limit. Goodput is the records written per second as a share of the shards' capacity; retry
amplification is entries sent divided by records; lost is records reported written but not found
on the stream, plus records neither written nor reported failed (must both be 0).

    python -m load.bench_throughput [--shards 2] [--seconds 10] [--writers 8] [--json build/bench/b2.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARD_RECORDS_PER_SECOND = 1000
BATCH = 250
CASES = [
    ("baseline: half the limit, resubmission only", 0.5, False),
    ("half the limit, shard rates", 0.5, True),
    ("twice the limit, resubmission only", 2.0, False),
    ("twice the limit, shard rates", 2.0, True),
]
# Through the ingest handler, as the API drives it: requests of 50 events, one shard, the function's own
# settings (shard rates on, its deadline, its spill), with and without aggregation. Amplification counts
# entries sent per event; an aggregate is one entry for many events.
HANDLER_REQUEST_EVENTS = 50
HANDLER_CASES = [
    ("handler, twice the limit, one record per event", 2.0, "none"),
    ("handler, twice the limit, kpl aggregation", 2.0, "kpl"),
]


def write(spec: dict[str, Any]) -> dict[str, Any]:
    """One writer: offer ``rate`` records/s from ``start_at`` for ``seconds``; what happened to each."""
    import boto3

    from local.cloudformation.deployer import local_credentials
    from tools.template import LOCAL_REGION
    from weir.aws import ClientSettings
    from weir.backoff import Backoff
    from weir.deadline import Deadline
    from weir.producer import Producer, ProducerSettings, Record
    from weir.shard_rate import RateSettings

    settings = ClientSettings(connect_timeout=1, read_timeout=5, max_attempts=1)
    credentials = local_credentials()
    kinesis = boto3.session.Session(
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        region_name=LOCAL_REGION,
    ).client("kinesis", endpoint_url=spec["endpoint"], config=settings.to_botocore())
    producer = Producer(
        kinesis,
        spec["stream"],
        settings.worst_case_seconds,
        ProducerSettings(
            max_attempts=30,
            backoff=Backoff(base=0.05, cap=1.0),
            rates=RateSettings() if spec["shard_rates"] else None,
        ),
    )

    def send() -> tuple[list[str], Any]:
        ids = [uuid.uuid4().hex for _ in range(BATCH)]
        records = [Record(json.dumps({"event_id": i}).encode(), i) for i in ids]
        return ids, producer.put(records, Deadline(30))

    return offer(spec, BATCH, send)


def offer(spec: dict[str, Any], size: int, send: Callable[[], tuple[list[str], Any]]) -> dict[str, Any]:
    """``send`` a batch of ``size`` (its ids and its PutResult) at ``spec["rate"]`` records/s from
    ``start_at`` for ``seconds``; what happened to each record."""
    totals = {"records": 0, "written": 0, "failed": 0, "entries_sent": 0, "throttled": 0}
    written: list[str] = []
    time.sleep(max(0.0, spec["start_at"] - time.time()))
    started = time.monotonic()
    next_send = started
    while time.monotonic() - started < spec["seconds"]:
        ids, result = send()
        totals["records"] += len(ids)
        totals["entries_sent"] += result.stats.entries_sent
        totals["throttled"] += result.stats.throttled_entries
        for record_id, outcome in zip(ids, result.outcomes, strict=True):
            if outcome.ok:
                totals["written"] += 1
                written.append(record_id)
            else:
                totals["failed"] += 1  # through the handler: spilled to the overflow queue, or not taken
        next_send += size / spec["rate"]
        time.sleep(max(0.0, next_send - time.monotonic()))
    return {**totals, "elapsed": time.monotonic() - started, "written_ids": written}


def write_through_handler(spec: dict[str, Any]) -> dict[str, Any]:
    """One ingest function instance: requests of 50 events at ``rate`` events/s through IngestService."""
    os.environ.update(spec["environment"])
    from load.events import make_events
    from weir import domain
    from weir.config import IngestConfig
    from weir.ingest import wiring

    service = wiring.build(IngestConfig.from_env(os.environ), domain.EVENT_TYPES)

    def send() -> tuple[list[str], Any]:
        events = make_events(HANDLER_REQUEST_EVENTS)
        outcome = service.handle(json.dumps({"events": events}), False, _Context(spec["timeout_seconds"]))
        assert outcome.put is not None, outcome.response.body
        return [event["event_id"] for event in events], outcome.put

    return offer(spec, HANDLER_REQUEST_EVENTS, send)


class _Context:
    """A Lambda context with the function's timeout, counted from the request's start."""

    def __init__(self, timeout_seconds: float) -> None:
        self._ends = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


def run_case(
    kinesis: Any,
    endpoint: str,
    name: str,
    multiple: float,
    shard_rates: bool,
    args: argparse.Namespace,
    handler: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One case; ``handler`` (the ingest function's environment) runs it through the ingest handler."""
    from load.bench_aggregation import set_limits
    from tools.readback import stream_records

    shards = 1 if handler is not None else args.shards
    capacity = shards * SHARD_RECORDS_PER_SECOND
    stream = f"b2-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=stream, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60})
    spec = {
        "endpoint": endpoint,
        "stream": stream,
        "rate": capacity * multiple / args.writers,
        "seconds": args.seconds,
        "shard_rates": shard_rates,
        "start_at": time.time() + 5.0,  # every writer imported and ready; the buckets full
    }
    if handler is not None:
        spec |= {"environment": {**handler, "STREAM_NAME": stream}, "timeout_seconds": 10.0}
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'weir'}"}
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "load.bench_throughput", "--writer", json.dumps(spec)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
        )
        for _ in range(args.writers)
    ]
    results = []
    for process in writers:
        out, _ = process.communicate(timeout=args.seconds + 120)
        if process.returncode != 0:
            raise RuntimeError(f"a B2 writer failed (exit {process.returncode})")
        results.append(json.loads(out))
    keys = ("records", "written", "failed", "entries_sent", "throttled")
    totals = {key: sum(r[key] for r in results) for key in keys}
    elapsed = max(r["elapsed"] for r in results)
    written_ids = {i for r in results for i in r["written_ids"]}
    set_limits(endpoint, enabled=False)  # the read-back is not measured: no read limits for it
    on_stream = {json.loads(r["data"])["event_id"] for r in stream_records(kinesis, stream)}
    set_limits(endpoint, enabled=True)
    lost = len(written_ids - on_stream) + (totals["records"] - totals["written"] - totals["failed"])
    row = {
        "case": name,
        "shards": shards,
        "writers": args.writers,
        "offered_records_per_second": round(totals["records"] / elapsed),
        "goodput_share_of_capacity": round(totals["written"] / elapsed / capacity, 3),
        "retry_amplification": round(totals["entries_sent"] / max(1, totals["records"]), 3),
        "throttled_entries": totals["throttled"],
        "failed_after_retries": totals["failed"],
        "lost": lost,
    }
    print(
        f"  {name:<44} offered {row['offered_records_per_second']:>6}/s  goodput "
        f"{row['goodput_share_of_capacity']:>5.2f} of capacity  amplification "
        f"{row['retry_amplification']:>5.2f}  failed {totals['failed']:>5}  lost {lost}",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--only-handler", action="store_true", help="run only the cases through the ingest handler")
    parser.add_argument("--writer", help=argparse.SUPPRESS)  # a writer process's own spec (JSON)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "layers" / "weir"))
    if args.writer:
        spec = json.loads(args.writer)
        print(json.dumps(write_through_handler(spec) if "environment" in spec else write(spec)))
        return 0
    from local.cloudformation.deployer import local_client
    from local.endpoint import Endpoint

    rows: list[dict[str, Any]] = []
    with Endpoint(port=0) as endpoint:
        kinesis = local_client("kinesis", endpoint.url, read_timeout=10)
        capacity = args.shards * SHARD_RECORDS_PER_SECOND
        print(
            f"B2 at the write limit: {args.shards} local shards ({capacity} records/s), "
            f"{args.writers} writer processes, {args.seconds:g} s a case"
        )
        for name, multiple, shard_rates in [] if args.only_handler else CASES:
            rows.append(run_case(kinesis, endpoint.url, name, multiple, shard_rates, args))
        print(f"B2 through the ingest handler: 1 local shard, {args.writers} function instances, requests of 50")
        queue = local_client("sqs", endpoint.url).create_queue(QueueName=f"b2-overflow-{uuid.uuid4().hex[:8]}")
        for name, multiple, aggregation in HANDLER_CASES:
            handler = {
                **handler_environment(),
                "AWS_ENDPOINT_URL": endpoint.url,
                "OVERFLOW_QUEUE_URL": queue["QueueUrl"],
                "PRODUCER_AGGREGATION": aggregation,
            }
            rows.append(run_case(kinesis, endpoint.url, name, multiple, True, args, handler))
    base = rows[0]["goodput_share_of_capacity"]
    for row in rows:
        row["goodput_ratio_to_baseline"] = round(row["goodput_share_of_capacity"] / base, 2) if base else None
    ratios = ", ".join(f"{r['case']}: {r['goodput_ratio_to_baseline']}" for r in rows)
    print(f"  goodput ratios to the baseline: {ratios}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"shards": args.shards, "results": rows}, indent=2) + "\n")
    return 1 if any(row["lost"] for row in rows) else 0


def handler_environment() -> dict[str, str]:
    """The ingest function's environment as template.yaml gives it (its defaults), with the local
    endpoint's placeholder credentials; the stream, queue and endpoint are filled in per case."""
    from local.cloudformation.deployer import local_credentials
    from tools.resolve import Scope
    from tools.template import LOCAL_REGION, function_environment, load_template, parameter_values, translate

    template = load_template()
    translated = translate(template)
    parameters = parameter_values(template) | {"AWS::Region": LOCAL_REGION, "AWS::Partition": "aws"}
    parameters["AWS::StackName"] = "weir-b2"
    refs = {"Stream": "set-per-case", "OverflowQueue": "set-per-case"}
    scope = Scope(parameters, refs=refs, conditions=translated.get("Conditions", {}))
    environment = function_environment(translated, "IngestFunction", scope)
    quiet = {
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    return {**environment, **local_credentials(), **quiet}


if __name__ == "__main__":
    raise SystemExit(main())
