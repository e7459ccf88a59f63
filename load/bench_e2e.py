"""B4: end to end on the local runtime: ingest-to-table latency (p50, p99) and sustained records/s.

Latency: events are posted one request at a time at a modest rate; each event's latency is the
events-table item's ``stored_at`` minus the moment its request was sent. The baseline, in the same
run, is the ``POST /events`` round trip itself (the part the client waits for); end-to-end latency is
reported as a ratio to it. Throughput: a fixed number of events is posted as fast as the API takes
them; the sustained records/s end to end is the events stored between the first and the last one's
arrival in the table, over that time (the first event's wait for the idle poll and the batching
window is latency, measured above, not throughput). The whole span, from the first request, is
reported too.

Both are measured twice in one run: with the local runtime's DynamoDB (dynalite) and, as the
baseline, with moto server's; the sink's ratio is dynalite's figure over moto's.

    python -m load.bench_e2e [--events 600] [--rate 100] [--throughput-events 3000] [--json build/bench/b4.json]
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

# Traffic before the measured events: the first events on an idle stream wait for the mapping's idle
# poll (up to 1 s) and then the batching window; they are reported apart (idle_start_*).
WARMUP_SECONDS = 3.0


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(
    dynamodb: str, events: int, rate: float, throughput_events: int, second_consumer: bool = True
) -> dict[str, Any]:
    """One local runtime with ``dynamodb`` serving DynamoDB: latency at ``rate`` events/s, then
    the sustained records/s of ``throughput_events`` posted at once. Without ``second_consumer``
    the aggregates consumer's mapping is disabled from the start (the first consumer alone)."""
    import urllib3

    from local.cloudformation.deployer import local_client
    from local.runtime import LocalRuntime

    runtime = LocalRuntime(port=0, api_port=0, stack_name=f"bench-e2e-{dynamodb}", dynamodb=dynamodb).start()
    if not second_consumer:
        aggregates = runtime.mapping("AggregateFunction")
        aggregates.disable_delay_seconds = 0
        aggregates.update(enabled=False)
    try:
        http = urllib3.PoolManager(maxsize=8, retries=False)
        client = local_client("dynamodb", runtime.environment()["AWS_ENDPOINT_URL"])
        table = runtime.outputs()["EventsTableName"]

        def post(batch: list[dict[str, Any]]) -> float:
            started = time.time()
            response = http.request("POST", f"{runtime.api_url}/events", body=json.dumps({"events": batch}).encode())
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
                    response = client.batch_get_item(RequestItems={table: {"Keys": keys}})
                    for item in response["Responses"].get(table, []):
                        found[item["event_id"]["S"]] = datetime.fromisoformat(item["stored_at"]["S"]).timestamp()
                if len(found) < len(ids):
                    time.sleep(0.5)
            return found

        # latency, one event per request at a steady rate; the first WARMUP_SECONDS of traffic meet
        # an idle stream (the mapping's idle poll, then the batching window) and are reported apart
        sent: dict[str, float] = {}
        round_trips: list[float] = []
        warmup = round(WARMUP_SECONDS * rate)
        for _ in range(warmup + events):
            item = event()
            started = post([item])
            sent[item["event_id"]] = started
            round_trips.append(time.time() - started)
            time.sleep(max(0.0, 1 / rate - (time.time() - started)))
        found = stored_at(set(sent), timeout=120)
        in_order = list(sent)
        latencies = [found[i] - sent[i] for i in in_order[warmup:] if i in found]
        idle_start = [found[i] - sent[i] for i in in_order[:warmup] if i in found]
        # sustained throughput
        batches = [[event() for _ in range(50)] for _ in range(throughput_events // 50)]
        ids = {e["event_id"] for batch in batches for e in batch}
        started = time.time()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(post, batches))
        done = stored_at(ids, timeout=600)
        first, last = (min(done.values()), max(done.values())) if done else (started, started)
        sustained = (len(done) - 1) / (last - first) if last > first else 0.0
        whole_span = len(done) / (last - started) if last > started else 0.0
    finally:
        runtime.stop()
    post_p50 = statistics.median(round_trips)
    return {
        "post_round_trip_p50_ms": round(1000 * post_p50, 1),
        "e2e_latency_p50_ms": round(1000 * _percentile(latencies, 0.5), 1),
        "e2e_latency_p99_ms": round(1000 * _percentile(latencies, 0.99), 1),
        "e2e_p50_ratio_to_post": round(_percentile(latencies, 0.5) / post_p50, 1),
        "e2e_p99_ratio_to_post": round(_percentile(latencies, 0.99) / post_p50, 1),
        "events_measured": len(latencies),
        "events_missing": events + warmup - len(latencies) - len(idle_start),
        "idle_start_latency_p50_ms": round(1000 * _percentile(idle_start, 0.5), 1),
        "idle_start_latency_max_ms": round(1000 * max(idle_start), 1),
        "sustained_records_per_second": round(sustained, 1),
        "from_first_request_records_per_second": round(whole_span, 1),
        "sustained_events": len(done),
        "sustained_missing": len(ids) - len(done),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=600, help="events for the latency measurement")
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s (one event each) for latency")
    parser.add_argument("--throughput-events", type=int, default=3000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from local.cloudformation.deployer import local_credentials

    for name, value in local_credentials().items():
        os.environ.setdefault(name, value)
    # The baseline is moto server's DynamoDB, measured in this run; the local runtime's default is dynalite.
    runs = {name: measure(name, args.events, args.rate, args.throughput_events) for name in ("moto", "dynalite")}
    # The same with the first consumer alone: what the second consumer costs on this machine's cores.
    runs["dynalite_one_consumer"] = measure("dynalite", args.events, args.rate, args.throughput_events, False)
    baseline, local, alone = runs["moto"], runs["dynalite"], runs["dynalite_one_consumer"]
    result = {
        "dynalite": local,
        "baseline_moto": baseline,
        "dynalite_one_consumer": alone,
        "sustained_ratio_two_consumers_to_one": round(
            local["sustained_records_per_second"] / max(0.1, alone["sustained_records_per_second"]), 2
        ),
        "sustained_ratio_to_moto": round(
            local["sustained_records_per_second"] / max(0.1, baseline["sustained_records_per_second"]), 2
        ),
        "p99_ratio_to_moto": round(local["e2e_latency_p99_ms"] / max(0.1, baseline["e2e_latency_p99_ms"]), 2),
    }
    print(f"B4 end to end on the local runtime (default parameters; {args.rate:g} events/s for latency)")
    for key in local:
        print(
            f"  {key:<32} dynalite {local[key]:>10}   moto (baseline) {baseline[key]:>10}"
            f"   dynalite, first consumer alone {alone[key]:>10}"
        )
    print(f"  {'sustained_ratio_two_consumers_to_one':<32} {result['sustained_ratio_two_consumers_to_one']}")
    print(f"  {'sustained_ratio_to_moto':<32} {result['sustained_ratio_to_moto']}")
    print(f"  {'p99_ratio_to_moto':<32} {result['p99_ratio_to_moto']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    complete = all(run["events_missing"] == 0 and run["sustained_missing"] == 0 for run in runs.values())
    return 0 if complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
