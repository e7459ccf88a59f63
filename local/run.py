"""``make run``: the ingest path end to end on this machine, ending in a ledger.

Starts the local AWS endpoint (kinesalite + moto server behind the gateway, with Kinesis shard
write limits), deploys template.yaml into it, and drives a demo workload through the real ingest
handler: steady traffic, then a burst well above the shards' write limit, then a short stream
outage. It ends with a ledger that accounts for every event sent, and exits non-zero if any
event answered 202 is in neither the stream nor the overflow queue.

Today this covers the ingest path (issue: the producer). The consumer, the event source mapping
emulator and the HTTP API on 127.0.0.1:3000 join it as the local runtime grows (docs/local.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from local.deployer import Deployer, LocalStack, local_outputs
from local.endpoint import DEFAULT_PORT, Endpoint, EndpointError
from local.template import ROOT, parse_overrides

LEDGER_PATH = ROOT / "build" / "ledger.json"


class FakeContext:
    """A Lambda context for in-process invocations, with a real deadline."""

    def __init__(self, function_name: str, timeout_seconds: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self._ends = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


def _event(i: int, phase: str) -> dict[str, Any]:
    return {
        "event_id": f"{phase}-{i}-{uuid.uuid4().hex[:8]}",
        "type": "demo.event",
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "partition_key": f"device-{i % 50}",
        "payload": {"n": i, "phase": phase},
    }


class Demo:
    def __init__(self, stack: LocalStack, endpoint: Endpoint) -> None:
        self.stack = stack
        self.endpoint = endpoint
        self.sent: list[str] = []
        self.status: Counter[int] = Counter()
        self.accepted: set[str] = set()
        self.not_taken: set[str] = set()
        self.lock = threading.Lock()
        function = stack.functions["IngestFunction"]
        os.environ.update(function.environment)
        # What Lambda does with layers: their content is importable (/opt/python in AWS).
        for path in stack.layer_paths:
            if str(path) not in sys.path:
                sys.path.insert(0, str(path))
        import importlib.util

        spec = importlib.util.spec_from_file_location("weir_local_ingest_app", function.handler_path)
        assert spec
        assert spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.handler = getattr(module, function.handler)
        self.timeout = function.timeout

    def post(self, events: list[dict[str, Any]]) -> None:
        request = {
            "version": "2.0",
            "routeKey": "POST /events",
            "rawPath": "/events",
            "headers": {},
            "requestContext": {"http": {"method": "POST", "path": "/events"}, "requestId": str(uuid.uuid4())},
            "body": json.dumps({"events": events}),
            "isBase64Encoded": False,
        }
        response = self.handler(request, FakeContext("weir-local-ingest", self.timeout))
        body = json.loads(response["body"])
        with self.lock:
            self.sent.extend(e["event_id"] for e in events)
            self.status[response["statusCode"]] += 1
            for outcome in body.get("events", []):
                if outcome["status"] in {"written", "spilled"}:
                    self.accepted.add(outcome["event_id"])
                else:
                    self.not_taken.add(outcome["event_id"])

    def phase(self, name: str, requests: int, size: int, workers: int) -> None:
        started = time.monotonic()
        batches = [[_event(r * size + i, name) for i in range(size)] for r in range(requests)]
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(self.post, batches))
        elapsed = time.monotonic() - started
        limits = self.endpoint.server.gateway.limiter if self.endpoint.server else None
        throttled = limits.throttled if limits else 0
        print(
            f"  {name:<8} {requests * size:>6} events in {elapsed:5.1f} s  "
            f"(shard throttling so far: {throttled} entries)",
            flush=True,
        )


def _read_back(stack: LocalStack, endpoint_url: str) -> tuple[Counter[str], Counter[str]]:
    import boto3

    kinesis = boto3.client("kinesis", endpoint_url=endpoint_url, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=endpoint_url, region_name="us-east-1")
    stream = stack.outputs["StreamName"]
    on_stream: Counter[str] = Counter()
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            on_stream.update(json.loads(r["Data"])["event_id"] for r in page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    in_overflow: Counter[str] = Counter()
    queue = stack.outputs["OverflowQueueUrl"]
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=300).get(
            "Messages", []
        )
        if not messages:
            break
        in_overflow.update(json.loads(m["Body"])["event"]["event_id"] for m in messages)
    return on_stream, in_overflow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Weir's ingest path end to end on this machine")
    parser.add_argument("--params", default="", help='template parameter overrides, "Key=Value Key2=Value2"')
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="local AWS endpoint port (default 4566)")
    parser.add_argument("--ledger", type=Path, default=LEDGER_PATH)
    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.params)
    except ValueError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 2
    for name, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        os.environ[name] = value
    started = time.monotonic()
    try:
        endpoint = Endpoint(args.port).start()
    except (EndpointError, OSError) as exc:
        print(f"make run: cannot start the local endpoint on port {args.port}: {exc}", file=sys.stderr)
        return 2
    try:
        os.environ["AWS_ENDPOINT_URL"] = endpoint.url
        try:
            stack = Deployer(endpoint.url).deploy(overrides)
        except ValueError as exc:
            print(f"make run: {exc}", file=sys.stderr)
            return 2
        print(f"Weir local endpoint {endpoint.url}; stack {stack.name} deployed from template.yaml")
        for key, value in sorted(local_outputs(stack).items()):
            print(f"  {key:<22} {value}")
        from local.deployer import ON_DEMAND_LOCAL_SHARDS  # noqa: F401 - documented in docs/local.md

        demo = Demo(stack, endpoint)
        print("Workload:")
        demo.phase("steady", requests=10, size=100, workers=2)
        demo.phase("burst", requests=40, size=250, workers=8)
        fault = (
            endpoint.server.gateway.faults.add(
                {
                    "service": "kinesis",
                    "operation": "PutRecords",
                    "error": "ServiceUnavailable",
                    "status": 503,
                    "duration_s": 3,
                }
            )
            if endpoint.server
            else None
        )
        demo.phase("outage", requests=5, size=100, workers=2)
        if fault and endpoint.server:
            endpoint.server.gateway.faults.remove(fault.id)
        on_stream, in_overflow = _read_back(stack, endpoint.url)
    finally:
        endpoint.stop()

    duplicates_on_stream = sum(c - 1 for c in on_stream.values() if c > 1)
    lost = sorted(e for e in demo.accepted if e not in on_stream and e not in in_overflow)
    ledger = {
        "sent": len(demo.sent),
        "accepted": len(demo.accepted),
        "not_taken_503": len(demo.not_taken),
        "on_stream": len(set(on_stream) & set(demo.sent)),
        "in_overflow_queue": len(set(in_overflow) & set(demo.sent)),
        "duplicates_on_stream": duplicates_on_stream,
        "lost": len(lost),
        "lost_event_ids": lost[:20],
        "http_status": {str(k): v for k, v in sorted(demo.status.items())},
        "seconds": round(time.monotonic() - started, 1),
    }
    args.ledger.parent.mkdir(parents=True, exist_ok=True)
    args.ledger.write_text(json.dumps(ledger, indent=2) + "\n")
    print("Ledger:")
    for key in ("sent", "accepted", "not_taken_503", "on_stream", "in_overflow_queue", "duplicates_on_stream", "lost"):
        print(f"  {key:<22} {ledger[key]}")
    print(f"  (written to {args.ledger})")
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
