"""B3: consumer throughput per concurrent batch, and the ParallelizationFactor a saturated shard needs.

Runs the real process handler in-process against the local endpoint, with ``--latency-ms`` added to
every DynamoDB call by a gateway fault (AWS's single-digit-ms latency, made explicit). Each case
processes the same batches; the baseline (Weir's own sink, one key at a time, single calls) is
measured in the same run, and every other case is reported as a ratio to it. The cases with a
Powertools record per event declare Weir's sink not idempotent, so the consumer keeps the record a
fork's non-idempotent sink needs: what that record costs.

    python -m load.bench_consumer [--records 400] [--latency-ms 5] [--json build/bench/b3.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from load.bench_env import use_bench_environment

SHARD_RECORDS_PER_SECOND = 1000


def _event(records: int, keys: int, batch_no: int) -> dict[str, Any]:
    import base64

    out = []
    for i in range(records):
        envelope = {
            "event_id": f"b{batch_no}-{i}-{uuid.uuid4().hex[:6]}",
            "type": "bench",
            "occurred_at": "2026-11-23T12:00:00Z",
            "partition_key": f"k{i % keys}",
            "payload": {"i": i},
        }
        out.append(
            {
                "kinesis": {
                    "partitionKey": envelope["partition_key"],
                    "kinesisSchemaVersion": "1.0",
                    "data": base64.b64encode(json.dumps(envelope).encode()).decode(),
                    "sequenceNumber": str(49545115243490985018280067714973144582180062593244200961 + i),
                    "approximateArrivalTimestamp": time.time(),
                },
                "eventSource": "aws:kinesis",
                "eventID": f"shardId-000000000000:{i}",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/bench",
                "awsRegion": "us-east-1",
                "eventName": "aws:kinesis:record",
                "eventVersion": "1.0",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/bench",
            }
        )
    return {"Records": out}


def _inprocess_resources(latency_ms: int) -> None:
    """Tables and queue from template.yaml's own schema in in-process moto, and a real sleep per call."""
    import boto3
    import botocore.session  # noqa: F401 - the hook below is registered on every new client

    from tools.template import load_template, translate

    resources = translate(load_template())["Resources"]
    dynamodb = boto3.client("dynamodb")
    for logical_id, name in (("EventsTable", "bench-events"), ("IdempotencyTable", "bench-idempotency")):
        props = resources[logical_id]["Properties"]
        dynamodb.create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",  # the template's default (TableBillingMode)
        )
    queue = boto3.client("sqs").create_queue(QueueName="bench-quarantine")["QueueUrl"]
    os.environ.update(
        {
            "EVENTS_TABLE_NAME": "bench-events",
            "IDEMPOTENCY_TABLE_NAME": "bench-idempotency",
            "QUARANTINE_QUEUE_URL": queue,
            "LARGE_MESSAGE_BUCKET_NAME": "bench-large-messages",
        }
    )

    from weir import aws

    original = aws.client

    def client_with_latency(service: str, settings: Any, region: str | None = None) -> Any:
        made = original(service, settings, region)
        if service == "dynamodb" and not getattr(made, "_bench_latency", False):
            # before-sign runs for every call, before moto answers it: the sleep releases the GIL,
            # as a network wait does.
            made.meta.events.register("before-sign.dynamodb", lambda **_: time.sleep(latency_ms / 1000))
            made._bench_latency = True
        return made

    aws.client = client_with_latency


@contextlib.contextmanager
def _standin(latency_ms: int, hash_keys: dict[str, str] | None = None) -> Iterator[Callable[[], dict[str, int]]]:
    """load.standin in a child process; yields a function returning its call counts. The tables in
    ``hash_keys`` (name -> partition key) keep their items and check the consumer's conditions."""
    import subprocess
    import urllib.request

    from local.endpoint import _die_with_parent

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "load.standin",
            "--latency-ms",
            str(latency_ms),
            *(f"--key={table}={key}" for table, key in (hash_keys or {}).items()),
        ],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"load.standin did not start (exit {process.poll()})")
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = url
        os.environ.setdefault("EVENTS_TABLE_NAME", "bench-events")
        os.environ.setdefault("IDEMPOTENCY_TABLE_NAME", "bench-idempotency")
        # Never called by a batch without poison records; the stand-in would refuse it.
        os.environ.setdefault("QUARANTINE_QUEUE_URL", "http://127.0.0.1:1/000000000000/bench-quarantine")
        os.environ.setdefault("LARGE_MESSAGE_BUCKET_NAME", "bench-large-messages")  # never written either

        def calls() -> dict[str, int]:
            with urllib.request.urlopen(f"{url}/__stats", timeout=5) as answer:  # noqa: S310 - http://127.0.0.1 checked above
                counts: dict[str, int] = json.load(answer)
                return counts

        yield calls
    finally:
        process.terminate()
        process.wait(timeout=10)


class NotIdempotent:
    """Weir's sink declared not idempotent: the consumer then keeps a Powertools idempotency record
    per event, as it does for a fork's sink that sends a message (what that record costs)."""

    idempotent = False

    def __init__(self, sink: Any) -> None:
        self._sink = sink

    def store(self, event: Any) -> bool:
        return bool(self._sink.store(event))

    def probe(self) -> bool:
        return bool(self._sink.probe())


class Context:
    function_name = "bench-process"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-process"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=400, help="records per batch")
    parser.add_argument("--keys", type=int, default=50, help="distinct partition keys in a batch")
    parser.add_argument("--latency-ms", type=int, default=5, help="added to every DynamoDB call")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--backend",
        choices=["standin", "endpoint", "inprocess"],
        default="standin",
        help="standin: load.standin in its own process, a fixed latency and almost no CPU per call, so "
        "the figures are the consumer's own; endpoint: the local AWS endpoint (moto server behind the "
        "gateway, sharing the CPUs); inprocess: moto inside this process, the latency a sleep per call",
    )
    args = parser.parse_args(argv)

    use_bench_environment()
    from local.endpoint import Endpoint

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "layers" / "weir"))

    from local.cloudformation.deployer import Deployer
    from weir import aws, domain
    from weir.config import ConsumerConfig
    from weir.consumer import wiring
    from weir.consumer.sink import EventSink, SinkParts

    results: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack_context:
        if args.backend == "endpoint":
            endpoint = stack_context.enter_context(Endpoint(port=0))
            os.environ["AWS_ENDPOINT_URL"] = endpoint.url
            stack = Deployer(endpoint.url, stack_name="bench").deploy()
            os.environ.update(stack.functions["ProcessFunction"].environment)
            assert endpoint.server is not None
            if args.latency_ms:
                endpoint.server.gateway.faults.add({"service": "dynamodb", "latency_ms": args.latency_ms})
        elif args.backend == "standin":
            # the tables keep their items, so that a batch delivered again costs what a duplicate costs
            tables = {"bench-events": "event_id", "bench-idempotency": "id"}
            standin_calls = stack_context.enter_context(_standin(args.latency_ms, tables))
        else:
            from moto import mock_aws

            stack_context.enter_context(mock_aws())
            _inprocess_resources(args.latency_ms)

        def measure(
            name: str, idempotency: bool, workers: int, coalescing: bool = False, again: bool = False
        ) -> dict[str, Any]:
            """One batch through the handler's service; ``idempotency``: the sink declares itself not
            idempotent, so the consumer keeps a Powertools record per event (what a fork's sink that
            sends a message costs), else Weir's own sink, called directly. ``again``: the batch is
            delivered once first, and what is measured is its second delivery (every record a duplicate)."""
            aws.reset_clients()
            os.environ["CONSUMER_KEY_CONCURRENCY"] = str(workers)
            os.environ["CONSUMER_WRITE_COALESCING"] = "true" if coalescing else "false"
            config = ConsumerConfig.from_env(os.environ)

            def make_sink(parts: SinkParts) -> EventSink:
                sink = domain.make_sink(parts)
                if idempotency:
                    return NotIdempotent(sink)
                return sink

            service = wiring.build(config, domain.EVENT_TYPES, make_sink, os.environ)
            service.handle_batch(_event(20, args.keys, 0), Context())  # warm up connections
            batch = _event(args.records, args.keys, 1)
            if again:
                assert service.handle_batch(batch, Context()) == {"batchItemFailures": []}
            calls_before = standin_calls() if args.backend == "standin" else {}
            started, cpu_started = time.perf_counter(), time.process_time()
            response = service.handle_batch(batch, Context())
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            assert response == {"batchItemFailures": []}, response
            rate = args.records / elapsed
            row = {
                "case": name,
                "idempotency": idempotency,
                "key_concurrency": workers,
                "records": args.records,
                "seconds": round(elapsed, 3),
                "ms_per_record": round(1000 * elapsed / args.records, 2),
                "cpu_ms_per_record": round(1000 * cpu / args.records, 2),
                "records_per_second_per_batch": round(rate, 1),
                "parallelization_factor_for_saturated_shard": math.ceil(SHARD_RECORDS_PER_SECOND / rate),
            }
            if args.backend == "standin":
                after = standin_calls()

                def delta(*names: str) -> float:
                    return float(sum(after.get(n, 0) - calls_before.get(n, 0) for n in names) / args.records)

                writes = delta("PutItem", "UpdateItem", "Statements")
                row["dynamodb_calls_per_record"] = round(delta("PutItem", "UpdateItem", "BatchExecuteStatement"), 2)
                row["writes_per_record"] = round(writes, 2)
                # Weir's sink: its one conditional put, first delivery or duplicate (a duplicate's
                # INSERT fails in its round and is answered as the put's failed condition).
                # A Powertools record: the lock, the event, the completion; a duplicate: the lock put
                # that finds the record (a statement first, then the single call for the old item,
                # when coalesced).
                duplicate_lock = 2 if coalescing else 1
                expected = (duplicate_lock if again else 3) if idempotency else 1
                assert round(writes, 2) == expected, (row, after, calls_before)
            print(
                f"  {name:<48} {row['ms_per_record']:>7.2f} ms/record  cpu {row['cpu_ms_per_record']:>5.2f} ms  "
                f"{rate:>8.1f} records/s  "
                f"calls/record {row.get('dynamodb_calls_per_record', '-')}  "
                f"PF needed: {row['parallelization_factor_for_saturated_shard']}",
                flush=True,
            )
            return row

        print(
            f"B3 consumer, {args.records} records/batch over {args.keys} keys, +{args.latency_ms} ms per DynamoDB call"
        )
        baseline = measure("baseline: Weir's sink, 1 key at a time, single calls", False, 1)
        results.append(baseline)
        for name, idem, workers in [
            ("Powertools record per event, 1 key at a time", True, 1),
            ("Weir's sink, 8 keys at a time", False, 8),
            ("Powertools record per event, 8 keys at a time", True, 8),
            ("Weir's sink, 32 keys at a time", False, 32),
            ("Powertools record per event, 32 keys at a time", True, 32),
        ]:
            results.append(measure(name, idem, workers))
        if args.backend != "inprocess":  # moto cannot run the PartiQL batches; the gateway can
            for workers in (8, 16):
                results.append(measure(f"Weir's sink, {workers} keys, coalesced writes", False, workers, True))
            results.append(measure("Powertools record per event, 32 keys, coalesced writes", True, 32, True))
            results.append(measure("Weir's sink, 32 keys, coalesced writes (the defaults)", False, 32, True))
        if args.backend == "standin":  # its tables keep their items: a redelivery finds them
            first = results[-1]
            for name, idem, workers, coalescing in [
                ("duplicates, Weir's sink, 32 keys, single calls", False, 32, False),
                ("duplicates, Weir's sink, 32 keys, coalesced writes (the defaults)", False, 32, True),
                ("duplicates, Powertools record, 32 keys, coalesced writes", True, 32, True),
            ]:
                row = measure(name, idem, workers, coalescing, again=True)
                row["ratio_to_first_delivery_at_defaults"] = round(
                    row["records_per_second_per_batch"] / first["records_per_second_per_batch"], 2
                )
                results.append(row)
    for row in results:
        row["ratio_to_baseline_throughput"] = round(
            row["records_per_second_per_batch"] / baseline["records_per_second_per_batch"], 2
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        summary = {"backend": args.backend, "latency_ms": args.latency_ms, "results": results}
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        "ratios to baseline throughput: "
        + ", ".join(f"{r['case']}: {r['ratio_to_baseline_throughput']}x" for r in results)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
