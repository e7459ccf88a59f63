"""B2: the producer at twice the write limit of N local shards: goodput, retry amplification, loss.

Writers offer records at a multiple of the shards' limit (1,000 records/s each) through the local
endpoint's shard limiter, with the ``weir`` producer. The baseline, in the same run, offers half the
limit. Goodput is the records written per second as a share of the shards' capacity; retry
amplification is entries sent divided by records; lost is records reported written but not found on
the stream, plus records neither written nor reported failed (must both be 0).

    python -m load.bench_throughput [--shards 2] [--seconds 8] [--json build/bench/b2.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARD_RECORDS_PER_SECOND = 1000
BATCH = 250


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "layers" / "weir"))
    from local.deployer import local_client
    from local.endpoint import Endpoint
    from local.readback import stream_records
    from weir.aws import ClientSettings
    from weir.backoff import Backoff
    from weir.deadline import Deadline
    from weir.producer import Producer, ProducerSettings, Record

    capacity = args.shards * SHARD_RECORDS_PER_SECOND
    rows: list[dict[str, Any]] = []
    with Endpoint(port=0) as endpoint:
        kinesis = local_client("kinesis", endpoint.url, read_timeout=10)
        settings = ClientSettings(connect_timeout=1, read_timeout=5, max_attempts=1, max_pool_connections=args.writers)

        def run(name: str, multiple: float) -> dict[str, Any]:
            stream = f"b2-{uuid.uuid4().hex[:8]}"
            kinesis.create_stream(StreamName=stream, ShardCount=args.shards)
            time.sleep(0.5)
            time.sleep(1.1)  # full token buckets, as after a quiet second
            producer = Producer(
                kinesis,
                stream,
                settings.worst_case_seconds,
                ProducerSettings(max_attempts=30, backoff=Backoff(base=0.05, cap=1.0)),
            )
            lock = threading.Lock()
            totals = {"records": 0, "written": 0, "failed": 0, "entries_sent": 0, "throttled": 0}
            written_ids: set[str] = set()
            per_writer_rate = capacity * multiple / args.writers
            stop_at = time.monotonic() + args.seconds

            def writer() -> None:
                next_send = time.monotonic()
                while time.monotonic() < stop_at:
                    ids = [uuid.uuid4().hex for _ in range(BATCH)]
                    records = [Record(json.dumps({"event_id": i}).encode(), i) for i in ids]
                    result = producer.put(records, Deadline(30))
                    with lock:
                        totals["records"] += len(records)
                        totals["entries_sent"] += result.stats.entries_sent
                        totals["throttled"] += result.stats.throttled_entries
                        for record_id, outcome in zip(ids, result.outcomes, strict=True):
                            if outcome.ok:
                                totals["written"] += 1
                                written_ids.add(record_id)
                            else:
                                totals["failed"] += 1
                    next_send += BATCH / per_writer_rate
                    time.sleep(max(0.0, next_send - time.monotonic()))

            started = time.monotonic()
            threads = [threading.Thread(target=writer) for _ in range(args.writers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            on_stream = {json.loads(r["data"])["event_id"] for r in stream_records(kinesis, stream)}
            lost = len(written_ids - on_stream) + (totals["records"] - totals["written"] - totals["failed"])
            row = {
                "case": name,
                "offered_records_per_second": round(totals["records"] / elapsed),
                "goodput_share_of_capacity": round(totals["written"] / elapsed / capacity, 3),
                "retry_amplification": round(totals["entries_sent"] / max(1, totals["records"]), 3),
                "throttled_entries": totals["throttled"],
                "failed_after_retries": totals["failed"],
                "lost": lost,
            }
            print(
                f"  {name:<36} offered {row['offered_records_per_second']:>6}/s  goodput "
                f"{row['goodput_share_of_capacity']:>5.2f} of capacity  amplification "
                f"{row['retry_amplification']:>5.2f}  failed {totals['failed']:>5}  lost {lost}",
                flush=True,
            )
            return row

        print(f"B2 at the write limit: {args.shards} local shards ({capacity} records/s), {args.writers} writers")
        rows.append(run("baseline: half the limit", 0.5))
        rows.append(run("twice the limit", 2.0))
    base = rows[0]["goodput_share_of_capacity"]
    for row in rows:
        row["goodput_ratio_to_baseline"] = round(row["goodput_share_of_capacity"] / base, 2) if base else None
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"shards": args.shards, "results": rows}, indent=2) + "\n")
    return 1 if any(row["lost"] for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
