"""B4: end to end on the local runtime: ingest-to-table latency (p50, p99) and sustained records/s.

Latency: events are posted one request at a time at a modest rate; each event's latency is the
events-table item's ``stored_at`` minus the moment its request was sent. The baseline, in the same
run, is the ``POST /events`` round trip itself (the part the client waits for); end-to-end latency is
reported as a ratio to it. Throughput: a fixed number of events is posted as fast as the API takes
them, and the time until the last is in the table gives the sustained records/s end to end.

    python -m load.bench_e2e [--events 300] [--throughput-events 1500] [--json build/bench/b4.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=300, help="events for the latency measurement")
    parser.add_argument("--rate", type=float, default=20.0, help="requests/s (one event each) for latency")
    parser.add_argument("--throughput-events", type=int, default=1500)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    import urllib3

    from local.deployer import local_client
    from local.runtime import LocalRuntime

    runtime = LocalRuntime(port=0, api_port=0, stack_name="bench-e2e").start()
    try:
        http = urllib3.PoolManager(maxsize=8, retries=False)
        dynamodb = local_client("dynamodb", runtime.environment()["AWS_ENDPOINT_URL"])
        table = runtime.outputs()["EventsTableName"]

        def post(events: list[dict[str, Any]]) -> float:
            started = time.time()
            response = http.request("POST", f"{runtime.api_url}/events", body=json.dumps({"events": events}).encode())
            if response.status != 202:
                raise RuntimeError(f"POST /events answered {response.status}: {response.data[:200]!r}")
            return started

        def event() -> dict[str, Any]:
            return {
                "event_id": f"b4-{uuid.uuid4()}",
                "type": "bench",
                "occurred_at": "2026-11-23T12:00:00Z",
                "partition_key": f"k{uuid.uuid4().int % 64}",
                "payload": {},
            }

        def stored_at(ids: set[str], timeout: float) -> dict[str, float]:
            found: dict[str, float] = {}
            deadline = time.monotonic() + timeout
            while len(found) < len(ids) and time.monotonic() < deadline:
                pending = sorted(ids - set(found))
                for start in range(0, len(pending), 100):
                    keys = [{"event_id": {"S": i}} for i in pending[start : start + 100]]
                    response = dynamodb.batch_get_item(RequestItems={table: {"Keys": keys}})
                    for item in response["Responses"].get(table, []):
                        found[item["event_id"]["S"]] = datetime.fromisoformat(item["stored_at"]["S"]).timestamp()
                if len(found) < len(ids):
                    time.sleep(0.5)
            return found

        # latency, one event per request at a steady rate
        sent: dict[str, float] = {}
        round_trips: list[float] = []
        for _ in range(args.events):
            item = event()
            started = post([item])
            sent[item["event_id"]] = started
            round_trips.append(time.time() - started)
            time.sleep(max(0.0, 1 / args.rate - (time.time() - started)))
        found = stored_at(set(sent), timeout=120)
        latencies = [found[i] - sent[i] for i in found]
        # sustained throughput
        batches = [[event() for _ in range(50)] for _ in range(args.throughput_events // 50)]
        ids = {e["event_id"] for batch in batches for e in batch}
        started = time.time()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(post, batches))
        done = stored_at(ids, timeout=300)
        sustained = len(done) / (max(done.values()) - started) if done else 0.0
    finally:
        runtime.stop()
    baseline = statistics.median(round_trips)
    result = {
        "baseline_post_round_trip_p50_ms": round(1000 * baseline, 1),
        "e2e_latency_p50_ms": round(1000 * _percentile(latencies, 0.5), 1),
        "e2e_latency_p99_ms": round(1000 * _percentile(latencies, 0.99), 1),
        "e2e_p50_ratio_to_baseline": round(_percentile(latencies, 0.5) / baseline, 1),
        "e2e_p99_ratio_to_baseline": round(_percentile(latencies, 0.99) / baseline, 1),
        "events_measured": len(latencies),
        "events_missing": args.events - len(latencies),
        "sustained_records_per_second": round(sustained, 1),
        "sustained_events": len(done),
    }
    print("B4 end to end on the local runtime (default parameters)")
    for key, value in result.items():
        print(f"  {key:<36} {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["events_missing"] == 0 and len(done) == len(ids) else 1


if __name__ == "__main__":
    raise SystemExit(main())
