"""B9: events per second per shard, one event per record against KPL aggregation, at the shard's limits.

The local endpoint applies a shard's write limits (1,000 records/s and 1 MiB/s of data plus partition
keys). Each case writes ~100-byte events to a one-shard stream for the same time, in requests of 500
events as the ingest function would, through the ``weir`` producer with shard rates: the baseline one
record per event, then ``PRODUCER_AGGREGATION=kpl``'s packing (weir.ingest.aggregation, 2 lanes, the
template's ParallelizationFactor). An event not written in its request is offered again in the next, so
nothing is dropped; at the end the stream is read back and every event must be on it exactly once.
Reported: events/s per shard and the ratio to the baseline measured in the same run (the physical
bound for ~100-byte events is about 9-10x: 1 MiB/s over ~110 bytes against 1,000 records/s).

    python -m load.bench_aggregation [--seconds 10] [--json build/bench/b9.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REQUEST_EVENTS = 500
LANES = 2


def set_limits(endpoint_url: str, *, enabled: bool) -> None:
    """Turn the local endpoint's shard limits (reads and writes) on or off."""
    body = json.dumps({"enabled": enabled}).encode()
    request = urllib.request.Request(endpoint_url + "/_weir/limits", data=body, method="PUT")  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - the local endpoint, on loopback
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "layers" / "weir"))
    from local.cloudformation.deployer import local_client
    from local.endpoint import Endpoint
    from tools.readback import stream_records
    from weir.aws import ClientSettings
    from weir.deadline import Deadline
    from weir.ingest.aggregation import pack
    from weir.producer import Producer, ProducerSettings, Record
    from weir.shard_rate import RateSettings

    rows: list[dict[str, Any]] = []
    with Endpoint(port=0, limits_enabled=True) as endpoint:
        kinesis = local_client("kinesis", endpoint.url, read_timeout=10)
        for case in ("one record per event", "kpl aggregation"):
            stream = f"bench-{len(rows)}"
            kinesis.create_stream(StreamName=stream, ShardCount=1)
            kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1})
            # the ingest function's client: 1 s to connect, 2 s to read, one attempt per call
            call_seconds = ClientSettings(connect_timeout=1, read_timeout=2, max_attempts=1).worst_case_seconds
            producer = Producer(kinesis, stream, call_seconds, ProducerSettings(rates=RateSettings()))
            aggregated = case == "kpl aggregation"
            written: list[str] = []
            offered = pending = 0
            waiting: list[tuple[str, Record]] = []
            started = time.monotonic()
            while time.monotonic() - started < args.seconds:
                while len(waiting) < REQUEST_EVENTS:
                    event_id = f"e{offered:08d}"
                    data = json.dumps(
                        {"event_id": event_id, "type": "bench", "payload": {"n": offered, "pad": "x" * 40}}
                    )
                    waiting.append((event_id, Record(data.encode(), f"device-{offered % 64}")))
                    offered += 1
                batch, waiting = waiting[:REQUEST_EVENTS], waiting[REQUEST_EVENTS:]
                records = [record for _, record in batch]
                deadline = Deadline(8.0)  # the ingest function's default
                shard_map = producer.shard_map(deadline) if aggregated else None
                if shard_map is not None:
                    packed = pack(records, shard_map, producer.settings.limits.max_record_bytes, LANES)
                    result = producer.put([p.record for p in packed], deadline)
                    ok = {m for p, o in zip(packed, result.outcomes, strict=True) if o.ok for m in p.members}
                else:
                    result = producer.put(records, deadline)
                    ok = {i for i, o in enumerate(result.outcomes) if o.ok}
                written += [batch[i][0] for i in sorted(ok)]
                waiting = [item for i, item in enumerate(batch) if i not in ok] + waiting  # offered again
            elapsed = time.monotonic() - started
            pending = len(waiting)
            set_limits(endpoint.url, enabled=False)  # the read-back is not measured: no read limits for it
            on_stream = Counter(json.loads(r["data"])["event_id"] for r in stream_records(kinesis, stream))
            set_limits(endpoint.url, enabled=True)
            assert on_stream == Counter(written), f"{case}: the stream does not hold each written event once"
            rows.append(
                {
                    "case": case,
                    "events_written": len(written),
                    "seconds": round(elapsed, 2),
                    "events_per_second_per_shard": round(len(written) / elapsed, 1),
                    "not_yet_written_at_the_end": pending,
                    "event_bytes": len(records[0].data),
                }
            )
    baseline = rows[0]["events_per_second_per_shard"]
    for row in rows:
        row["ratio"] = round(row["events_per_second_per_shard"] / baseline, 2)
        print(
            f"B9 {row['case']:<22} {row['events_per_second_per_shard']:>9.1f} events/s per shard"
            f"  ratio {row['ratio']:.2f}  ({row['events_written']} events of {row['event_bytes']} bytes"
            f" in {row['seconds']} s)"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": "B9", "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
