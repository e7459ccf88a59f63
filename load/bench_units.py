"""B8: DynamoDB write and read units per event, for a first delivery and for every kind of copy.

Both consumers run in-process against the local endpoint with the stack deployed into it (the
template's tables, the events table's stream): the process consumer's service handles Kinesis batches
as the mapping delivers them, and the aggregates consumer's service handles what the events table's
stream then holds, as one tumbling window that closes. Every DynamoDB call the two make is counted
and priced by DynamoDB's size rules (load.dynamodb_units): a write costs a unit per started KB of
the larger of the item before and after it, a write whose condition fails what the write would have.

The cases, each measured on its own (units made during it, divided by the deliveries of an event
it makes: one per event, two when two lanes race):

* a first delivery of fresh events;
* the same batch delivered again (a retry, a lost answer);
* a producer's retry: the same events under new sequence numbers;
* a redriven copy, days later;
* a copy on a child shard after a split;
* two lanes racing: the same fresh events delivered to two execution environments at once.

    python -m load.bench_units [--events 200] [--payload-bytes 300] [--json build/bench/b8.json]

It fails unless the process consumer costs at most 1.0 write unit per event in every case, both
consumers together at most 2.0, and a first delivery what the capacity planner charges
(load.planner.write_units_per_event).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from load.bench_env import use_bench_environment
from load.dynamodb_units import UnitCounter, item_bytes

FIRST_SEQUENCE = 49545115243490985018280067714973144582180062593244200961


class Context:
    function_name = "bench-units"
    function_version = "$LATEST"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-units"
    aws_request_id = "bench-units"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def envelopes(count: int, payload_bytes: int) -> list[dict[str, Any]]:
    """Fresh events of about ``payload_bytes`` of payload each, over 32 partition keys."""
    from weir.domain import example_event

    out = []
    for i in range(count):
        type_, payload = example_event(i)
        out.append(
            {
                "event_id": f"b8-{uuid.uuid4()}",
                "type": type_,
                "occurred_at": "2026-12-04T12:00:00Z",
                "partition_key": f"k{i % 32}",
                "payload": {**payload, "pad": "x" * max(0, payload_bytes - len(json.dumps(payload)))},
            }
        )
    return out


def kinesis_batch(events: list[dict[str, Any]], first: int, shard: str, arrival: float) -> dict[str, Any]:
    records = []
    for i, event in enumerate(events):
        sequence = str(first + i)
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": event["partition_key"],
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(json.dumps(event).encode()).decode(),
                    "approximateArrivalTimestamp": arrival,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard}:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/bench",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/bench",
            }
        )
    return {"Records": records}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200, help="events per case")
    parser.add_argument("--payload-bytes", type=int, default=300)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    use_bench_environment()
    result = measure(args.events, args.payload_bytes)
    for row in result["cases"]:
        process = f"{row['process_write_units_per_event']:.3f} WRU {row['process_read_units_per_event']:.3f} RRU"
        aggregates = f"{row['aggregates_write_units_per_event']:.3f} WRU"
        both = f"{row['both_write_units_per_event']:.3f} WRU"
        print(f"  {row['case']:<42} process {process}   aggregates {aggregates}   both {both}", flush=True)
    print(
        f"B8: an event item of {result['event_item_bytes']} bytes; the planner charges "
        f"{result['planner_write_units_per_event']} write unit(s) per event for it"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    failures = check(result)
    for failure in failures:
        print(f"B8 failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


def check(result: dict[str, Any]) -> list[str]:
    """What B8 promises: at most 1.0 write unit per event for the process consumer in every case, at
    most 2.0 for both, and a first delivery at the planner's figure."""
    failures = []
    for row in result["cases"]:
        if row["process_write_units_per_event"] > 1.0:
            failures.append(
                f"{row['case']}: the process consumer made {row['process_write_units_per_event']} WRU/event"
            )
        if row["both_write_units_per_event"] > 2.0:
            failures.append(f"{row['case']}: both consumers made {row['both_write_units_per_event']} WRU/event")
    first = result["cases"][0]
    if first["process_write_units_per_event"] != result["planner_write_units_per_event"]:
        failures.append(
            f"a first delivery made {first['process_write_units_per_event']} WRU/event; "
            f"the planner charges {result['planner_write_units_per_event']}"
        )
    return failures


def measure(events: int, payload_bytes: int) -> dict[str, Any]:
    """Each case's units per event, with the stack deployed into a local endpoint started here."""
    from load.planner import write_units_per_event
    from local.cloudformation.deployer import Deployer
    from local.endpoint import Endpoint
    from weir import aws, domain
    from weir.aggregates import wiring as aggregates_wiring
    from weir.config import AggregatesConfig, ConsumerConfig
    from weir.consumer import wiring as consumer_wiring

    previous = os.environ.get("AWS_ENDPOINT_URL")
    with Endpoint(port=0) as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint.url
        stack = Deployer(endpoint.url, stack_name="bench-units").deploy()
        process_env = {**os.environ, **stack.functions["ProcessFunction"].environment}
        aggregate_env = {**os.environ, **stack.functions["AggregateFunction"].environment}
        keys = {
            stack.physical_ids["EventsTable"]: ("event_id",),
            stack.physical_ids["IdempotencyTable"]: ("id",),
            stack.physical_ids["BreakerTable"]: ("id",),
            stack.physical_ids["AggregatesTable"]: ("window_start", "type"),
        }
        counter = UnitCounter(keys)
        original = aws.client

        def counted_client(service: str, settings: Any, region: str | None = None) -> Any:
            made = original(service, settings, region)
            if service == "dynamodb" and not getattr(made, "_units_counted", False):
                counter.attach(made)
                made._units_counted = True
            return made

        aws.client = counted_client
        try:
            aws.reset_clients()
            config = ConsumerConfig.from_env(process_env)

            def consumer() -> Any:
                return consumer_wiring.build(config, domain.EVENT_TYPES, domain.make_sink, process_env)

            lanes = [consumer(), consumer()]
            aggregates = aggregates_wiring.build(AggregatesConfig.from_env(aggregate_env))
            stream = _TableStream(endpoint.url, stack.physical_ids["EventsTable"])
            rows = []
            now = time.time()
            fresh = envelopes(events, payload_bytes)
            shard, child = "shardId-000000000000", "shardId-000000000002"

            def delivery(first: int, on: str = shard, later: float = 0.0) -> Callable[[], None]:
                batch = kinesis_batch(fresh, FIRST_SEQUENCE + first, on, now + later)
                return lambda: _deliver(lanes[0], batch)

            first_delivery = delivery(0)
            raced = envelopes(events, payload_bytes)
            race = [kinesis_batch(raced, FIRST_SEQUENCE + 30_000 + 5_000 * n, shard, now) for n in (0, 1)]
            # (the case, its deliveries of each event, what delivers them)
            cases: list[tuple[str, int, Callable[[], None]]] = [
                ("first delivery", 1, first_delivery),
                ("the same batch again", 1, first_delivery),
                ("a producer's retry (new sequence numbers)", 1, delivery(10_000)),
                ("a redriven copy, three days later", 1, delivery(20_000, later=3 * 86_400)),
                ("a copy on a child shard", 1, delivery(0, on=child)),
                ("two lanes racing on fresh events", 2, lambda: _race(lanes, race)),
            ]
            for name, copies, deliver in cases:
                before = counter.totals()
                deliver()
                middle = counter.totals()
                _window(aggregates, stream.new_records())
                after = counter.totals()
                deliveries = events * copies  # units per delivery of an event, whichever lane took it
                rows.append(
                    {
                        "case": name,
                        "events": events,
                        "deliveries": deliveries,
                        "process_write_units_per_event": round((middle[0] - before[0]) / deliveries, 3),
                        "process_read_units_per_event": round((middle[1] - before[1]) / deliveries, 3),
                        "aggregates_write_units_per_event": round((after[0] - middle[0]) / deliveries, 3),
                        "both_write_units_per_event": round((after[0] - before[0]) / deliveries, 3),
                    }
                )
        finally:
            aws.client = original
            aws.reset_clients()
            if previous is None:
                os.environ.pop("AWS_ENDPOINT_URL", None)
            else:
                os.environ["AWS_ENDPOINT_URL"] = previous
        sample = _item_of(fresh[0], process_env)
    return {
        "events_per_case": events,
        "payload_bytes": payload_bytes,
        "event_item_bytes": item_bytes(sample),
        "planner_write_units_per_event": write_units_per_event(item_bytes(sample)),
        "cases": rows,
    }


def _deliver(service: Any, batch: dict[str, Any]) -> None:
    answer = service.handle_batch(batch, Context())
    if answer != {"batchItemFailures": []}:
        raise RuntimeError(f"the consumer reported failures: {answer}")


def _race(lanes: list[Any], batches: list[dict[str, Any]]) -> None:
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def lane(n: int) -> None:
        start.wait()
        try:
            pending = batches[n]
            for _ in range(5):  # a record reported failed comes again, as Lambda delivers it
                answer = lanes[n].handle_batch(pending, Context())
                left = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
                if not left:
                    return
                pending = {"Records": [r for r in pending["Records"] if r["kinesis"]["sequenceNumber"] in left]}
            raise RuntimeError(f"lane {n}: records still failing")
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            errors.append(exc)

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if errors:
        raise errors[0]


def _window(aggregates: Any, records: list[dict[str, Any]]) -> None:
    window = {"start": "2026-12-04T12:00:00Z", "end": "2026-12-04T12:01:00Z"}
    base = {"window": window, "shardId": "shardId-bench", "eventSourceARN": "arn:aws:dynamodb:bench"}
    state = aggregates.handle({"Records": records, "state": {}, **base})["state"]
    aggregates.handle({"Records": [], "state": state, "isFinalInvokeForWindow": True, **base})


class _TableStream:
    """The events table's stream, read from where the last read stopped."""

    def __init__(self, endpoint_url: str, table: str) -> None:
        from local.cloudformation.deployer import local_client

        dynamodb = local_client("dynamodb", endpoint_url)
        self.arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self.streams = local_client("dynamodbstreams", endpoint_url)
        [shard] = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def new_records(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self.streams.get_records(ShardIterator=self.iterator)
            self.iterator = page["NextShardIterator"]
            if not page["Records"]:
                as_json: list[dict[str, Any]] = json.loads(json.dumps(found, default=lambda d: d.timestamp()))
                return as_json
            found.extend(page["Records"])


def _item_of(envelope: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """The item Weir's sink writes for ``envelope``, with the template's settings."""
    from weir import domain
    from weir.aws import ClientSettings
    from weir.consumer.sink import SinkParts
    from weir.models import Event

    sink = domain.make_sink(SinkParts(environ, ClientSettings()))
    item: dict[str, Any] = sink.item(domain.EVENT_TYPES.validate(Event.model_validate(envelope)))  # type: ignore[attr-defined]  # Weir's own sink
    return item


if __name__ == "__main__":
    raise SystemExit(main())
