"""B1: the producer's client cost per record, side by side, against the local endpoint.

Cases, each writing the same number of records (shard limits off, so this measures the client and
the wire, not throttling): plain ``put_records`` without resubmission (the baseline), the ``weir``
producer, the producer with shard rates (which paces each shard at its 1,000 records/s: its wall time
is the pacing, its CPU the cost), the producer with per-key ordering (50 keys, and one hot key), and
one ``put_record`` per record. Reported as ratios to the baseline, measured in the same run, of wall
time per record and of the calling thread's CPU time per record (the local endpoint's gateway runs in
other threads of this process and is not counted).

    python -m load.bench_producer [--records 2000] [--json build/bench/b1.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "layers" / "weir"))
    from local.cloudformation.deployer import local_client
    from local.endpoint import Endpoint
    from weir.aws import ClientSettings
    from weir.deadline import Deadline
    from weir.producer import Ordering, Producer, ProducerSettings, Record
    from weir.shard_rate import RateSettings

    rows: list[dict[str, Any]] = []
    with Endpoint(port=0, limits_enabled=False) as endpoint:
        kinesis = local_client("kinesis", endpoint.url, read_timeout=10)
        kinesis.create_stream(StreamName="bench", ShardCount=2)
        time.sleep(0.5)
        settings = ClientSettings()

        def records(keys: int) -> list[Record]:
            return [
                Record(json.dumps({"event_id": f"e{i}", "n": i}).encode(), f"k{i % keys}") for i in range(args.records)
            ]

        def plain() -> None:
            batch = records(50)
            for start in range(0, len(batch), 500):
                kinesis.put_records(
                    StreamName="bench",
                    Records=[{"Data": r.data, "PartitionKey": r.partition_key} for r in batch[start : start + 500]],
                )

        def weir(ordering: Ordering, keys: int, rates: bool = False) -> Callable[[], None]:
            settings_ = ProducerSettings(ordering=ordering, rates=RateSettings() if rates else None)

            def run() -> None:  # a new producer each run, as a new execution environment has
                producer = Producer(kinesis, "bench", settings.worst_case_seconds, settings_)
                _check(producer.put(records(keys), Deadline(600)).all_ok)

            return run

        def one_by_one() -> None:
            for record in records(50):
                kinesis.put_record(StreamName="bench", Data=record.data, PartitionKey=record.partition_key)

        cases: list[tuple[str, Callable[[], None]]] = [
            ("baseline: plain put_records, no resubmission", plain),
            ("weir producer", weir(Ordering.NONE, 50)),
            ("weir producer, shard rates", weir(Ordering.NONE, 50, rates=True)),
            ("weir producer, per-key ordering, 50 keys", weir(Ordering.PER_KEY, 50)),
            ("weir producer, per-key ordering, 1 hot key", weir(Ordering.PER_KEY, 1)),
            ("one put_record per record", one_by_one),
        ]
        print(f"B1 producer client cost, {args.records} records, local endpoint without shard limits")
        for name, case in cases:
            case()  # once untimed: the connection and botocore's operation models
            started, cpu_started = time.perf_counter(), time.thread_time()
            case()
            elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
            rows.append(
                {
                    "case": name,
                    "seconds": round(elapsed, 3),
                    "us_per_record": round(1e6 * elapsed / args.records, 1),
                    "cpu_us_per_record": round(1e6 * cpu / args.records, 1),
                }
            )
    base, cpu_base = rows[0]["us_per_record"], rows[0]["cpu_us_per_record"]
    for row in rows:
        row["ratio_to_baseline"] = round(row["us_per_record"] / base, 2)
        row["cpu_ratio_to_baseline"] = round(row["cpu_us_per_record"] / cpu_base, 2)
        print(
            f"  {row['case']:<46} {row['us_per_record']:>9.1f} us/record  {row['ratio_to_baseline']:>7.2f}x   "
            f"cpu {row['cpu_us_per_record']:>7.1f} us/record  {row['cpu_ratio_to_baseline']:>6.2f}x"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"records": args.records, "results": rows}, indent=2) + "\n")
    return 0


def _check(ok: bool) -> None:
    if not ok:
        raise RuntimeError("a benchmark put did not write every record")


if __name__ == "__main__":
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    raise SystemExit(main())
