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
    totals = {"records": 0, "written": 0, "failed": 0, "entries_sent": 0, "throttled": 0}
    written: list[str] = []
    time.sleep(max(0.0, spec["start_at"] - time.time()))
    started = time.monotonic()
    next_send = started
    while time.monotonic() - started < spec["seconds"]:
        ids = [uuid.uuid4().hex for _ in range(BATCH)]
        records = [Record(json.dumps({"event_id": i}).encode(), i) for i in ids]
        result = producer.put(records, Deadline(30))
        totals["records"] += len(records)
        totals["entries_sent"] += result.stats.entries_sent
        totals["throttled"] += result.stats.throttled_entries
        for record_id, outcome in zip(ids, result.outcomes, strict=True):
            if outcome.ok:
                totals["written"] += 1
                written.append(record_id)
            else:
                totals["failed"] += 1
        next_send += BATCH / spec["rate"]
        time.sleep(max(0.0, next_send - time.monotonic()))
    return {**totals, "elapsed": time.monotonic() - started, "written_ids": written}


def run_case(
    kinesis: Any, endpoint: str, name: str, multiple: float, shard_rates: bool, args: argparse.Namespace
) -> dict[str, Any]:
    from tools.readback import stream_records

    capacity = args.shards * SHARD_RECORDS_PER_SECOND
    stream = f"b2-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=stream, ShardCount=args.shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60})
    spec = {
        "endpoint": endpoint,
        "stream": stream,
        "rate": capacity * multiple / args.writers,
        "seconds": args.seconds,
        "shard_rates": shard_rates,
        "start_at": time.time() + 3.0,  # every writer imported and ready; the buckets full
    }
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
    on_stream = {json.loads(r["data"])["event_id"] for r in stream_records(kinesis, stream)}
    lost = len(written_ids - on_stream) + (totals["records"] - totals["written"] - totals["failed"])
    row = {
        "case": name,
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
    parser.add_argument("--writer", help=argparse.SUPPRESS)  # a writer process's own spec (JSON)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "layers" / "weir"))
    if args.writer:
        print(json.dumps(write(json.loads(args.writer))))
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
        for name, multiple, shard_rates in CASES:
            rows.append(run_case(kinesis, endpoint.url, name, multiple, shard_rates, args))
    base = rows[0]["goodput_share_of_capacity"]
    for row in rows:
        row["goodput_ratio_to_baseline"] = round(row["goodput_share_of_capacity"] / base, 2) if base else None
    ratios = ", ".join(f"{r['case']}: {r['goodput_ratio_to_baseline']}" for r in rows)
    print(f"  goodput ratios to the baseline: {ratios}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"shards": args.shards, "results": rows}, indent=2) + "\n")
    return 1 if any(row["lost"] for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
