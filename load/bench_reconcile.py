"""B6: the load test's reconciliation at scale, on the local endpoint (dynalite, kinesalite, moto).

A stack's worth of resources is filled as a large run would leave them: of N accepted events, 92 %
in the events table, 1 % spilled to the overflow queue, 4 % on the stream not yet processed, 3 % in
the S3 failure destination. (Only 1 % spilled: moto's SendMessageBatch slows with the queue's
length, 1,000 messages into a queue of 3,000 took 70 s here; the reconciliation itself only counts
the queue.) The reconciliation then runs once (no drain) and must account for every
one: its time, its calls, and its peak Python memory (tracemalloc, a second run) are reported.
The baseline, measured in the same run, is the same reconciliation at N / 10: linear cost means a
time ratio near 10.

    python -m load.bench_reconcile [--events 100000] [--json build/bench/b6.json]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any


def _populate(endpoint_url: str, name: str, count: int) -> tuple[Any, Any]:
    """Resources for one run and the ledger of ``count`` accepted events, placed as described."""
    from load.reconcile import Ledger
    from local.cloudformation.deployer import local_client
    from tools.stack import StackInfo

    dynamodb = local_client("dynamodb", endpoint_url)
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sqs = local_client("sqs", endpoint_url)
    overflow = sqs.create_queue(QueueName=f"{name}-overflow")["QueueUrl"]
    sqs.create_queue(QueueName=f"{name}-quarantine")
    kinesis = local_client("kinesis", endpoint_url)
    kinesis.create_stream(StreamName=name, ShardCount=4)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    s3 = local_client("s3", endpoint_url)
    s3.create_bucket(Bucket=name)

    ids = [f"load-{uuid.uuid4()}" for _ in range(count)]
    stored, rest = ids[: count * 92 // 100], ids[count * 92 // 100 :]
    spilled, rest = rest[: count // 100], rest[count // 100 :]
    behind, failed = rest[: count * 4 // 100], rest[count * 4 // 100 :]
    for start in range(0, len(stored), 25):
        requests = [{"PutRequest": {"Item": {"event_id": {"S": i}}}} for i in stored[start : start + 25]]
        while requests:
            answer = dynamodb.batch_write_item(RequestItems={name: requests})
            requests = answer.get("UnprocessedItems", {}).get(name, [])
    for start in range(0, len(spilled), 10):
        entries = [
            {"Id": str(n), "MessageBody": json.dumps({"event": {"event_id": i}})}
            for n, i in enumerate(spilled[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=overflow, Entries=entries)
    for start in range(0, len(behind), 500):
        records = [
            {"Data": json.dumps({"event_id": i}).encode(), "PartitionKey": i} for i in behind[start : start + 500]
        ]
        kinesis.put_records(StreamName=name, Records=records)
    for start in range(0, len(failed), 100):
        failures = [
            {"kinesis": {"data": base64.b64encode(json.dumps({"event_id": i}).encode()).decode()}}
            for i in failed[start : start + 100]
        ]
        document: dict[str, Any] = {"payload": json.dumps({"Records": failures})}
        s3.put_object(Bucket=name, Key=f"aws/lambda/bench/{start}.json", Body=json.dumps(document).encode())
    ledger = Ledger(sent_count=count)
    ledger.accepted(stored + behind + failed, spilled)
    outputs = {
        "EventsTableName": name,
        "OverflowQueueUrl": overflow,
        "QuarantineArn": f"arn:aws:sqs:us-east-1:123456789012:{name}-quarantine",
        "StreamName": name,
        "FailureDestinationArn": f"arn:aws:s3:::{name}",
    }
    return StackInfo(outputs, endpoint_url), ledger


def measure(endpoint_url: str, count: int) -> dict[str, Any]:
    from load.reconcile import reconcile

    name = f"b6-{count}-{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    stack, ledger = _populate(endpoint_url, name, count)
    populate_seconds = time.perf_counter() - started
    started = time.perf_counter()
    report = reconcile(ledger, stack, timeout=0)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    reconcile(ledger, stack, timeout=0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    expected = {"stored": count * 92 // 100, "backlog": count * 4 // 100, "lost": 0}
    found = {"stored": report.stored, "backlog": report.backlog, "lost": report.lost}
    if found != expected or sum(report.waiting.values()) != count - sum(expected.values()):
        raise RuntimeError(f"reconciliation of {count} events is wrong: {report.render()}")
    return {
        "events": count,
        "seconds": round(seconds, 2),
        "events_per_second": round(count / seconds),
        "peak_python_mib": round(peak / 2**20, 1),
        "populate_seconds": round(populate_seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from local.cloudformation.deployer import local_credentials

    for name, value in local_credentials().items():
        os.environ.setdefault(name, value)
    from local.endpoint import Endpoint

    with Endpoint(port=0, limits_enabled=False) as endpoint:
        baseline = measure(endpoint.url, args.events // 10)
        full = measure(endpoint.url, args.events)
    result = {
        "baseline": baseline,
        "full": full,
        "time_ratio": round(full["seconds"] / baseline["seconds"], 1),
        "events_ratio": round(full["events"] / baseline["events"], 1),
        "memory_ratio": round(full["peak_python_mib"] / max(0.1, baseline["peak_python_mib"]), 1),
    }
    print("B6 reconciliation (no drain; 92 % stored, 1 % spilled, 4 % on the stream, 3 % failed)")
    for label, run in (("baseline", baseline), ("full", full)):
        print(f"  {label:<9} {run}")
    print(
        f"  ratios: time {result['time_ratio']} for {result['events_ratio']}x the events;",
        f"memory {result['memory_ratio']}",
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
