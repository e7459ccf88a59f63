"""Capacity planner: from target events/s and record size to shards, consumer concurrency and cost.

    python -m load.planner --events-per-second 5000 --record-bytes 1200 [--parallelization-factor 2]
        [--standard-consumers 2] [--efo-consumers 0]

Reads: every standard consumer (an event source mapping on the stream itself) shares each shard's
5 GetRecords calls/s and 2 MiB/s with the others; an enhanced fan-out consumer (a stream consumer,
SubscribeToShard) has 2 MiB/s per shard of its own, at a price per consumer-shard hour and per GB.
Weir deploys two consumers (process and aggregates), standard by default.

The limits are Kinesis' and Lambda's (docs/aws-facts.md); the prices are assumptions stated in
:data:`PRICES` (us-east-1, on-demand list prices as published in 2025) — check them for your region.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field

MIB = 1024 * 1024
SHARD_WRITE_RECORDS = 1000
SHARD_WRITE_BYTES = 1 * MIB
SHARD_READ_BYTES = 2 * MIB
SHARD_READ_CALLS = 5  # GetRecords per second per shard, shared by every standard consumer
# "For standard iterators, Lambda polls each shard in your Kinesis stream for records at a base rate
# of once per second" (Lambda developer guide, with-kinesis): one call/s per mapping and shard.
LAMBDA_POLLS_PER_SECOND = 1
MAX_EFO_CONSUMERS = 20  # per stream (provisioned and on-demand standard)
MAX_RECORD_BYTES = 10 * MIB
DEFAULT_MAX_RECORD_BYTES = 1 * MIB
MAX_PARALLELIZATION = 10
DEFAULT_ACCOUNT_CONCURRENCY = 1000
HOURS_PER_MONTH = 730

PRICES = {
    "shard_hour": 0.015,  # provisioned shard-hour
    "put_payload_unit_per_million": 0.014,  # 25 KB PUT payload units
    "extended_retention_shard_hour": 0.020,  # retention above 24 h, per shard-hour
    "lambda_request_per_million": 0.20,
    "lambda_arm64_gb_second": 0.0000133334,
    "dynamodb_write_request_unit_per_million": 0.625,  # on-demand; a 1 KB item is one unit
    "http_api_request_per_million": 1.00,
    "efo_consumer_shard_hour": 0.015,  # enhanced fan-out, per consumer and shard
    "efo_data_retrieval_per_gb": 0.013,  # enhanced fan-out, per GB delivered to each consumer
}


@dataclass(frozen=True)
class Plan:
    events_per_second: float
    record_bytes: int
    shards: int
    shards_for_records: int
    shards_for_bytes: int
    parallelization_factor: int
    consumer_concurrency: int
    account_share: float
    parallelization_needed: int
    standard_consumers: int
    efo_consumers: int
    standard_read_share: float  # of each shard's 2 MiB/s read by the standard consumers at the target rate
    efo_needed: int  # standard consumers that must move to enhanced fan-out to fit the reads
    monthly_cost: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def monthly_total(self) -> float:
        return round(sum(self.monthly_cost.values()), 2)


def plan(
    events_per_second: float,
    record_bytes: int,
    parallelization_factor: int = 2,
    batch_size: int = 100,
    retention_hours: int = 24,
    consumer_ms_per_record: float = 2.0,
    headroom: float = 0.8,
    account_concurrency: int = DEFAULT_ACCOUNT_CONCURRENCY,
    other_concurrency: int = 0,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    events_per_request: int = 100,
    lambda_memory_mb: int = 1769,
    standard_consumers: int = 2,
    efo_consumers: int = 0,
    aggregates: bool = True,
) -> Plan:
    """``consumer_ms_per_record`` defaults to B3's figure for the template's defaults (idempotency,
    32 keys, coalesced writes; docs/performance.md), measured on one core: what
    ``lambda_memory_mb`` 1,769 (the template's ``ProcessMemorySize``) gives a function.
    ``headroom`` is the share of a shard's write limit planned to be used."""
    errors: list[str] = []
    warnings: list[str] = []
    if events_per_second <= 0:
        raise ValueError("events_per_second must be > 0")
    if not 0 < headroom <= 1:
        raise ValueError("headroom must be in (0, 1]")
    if not 1 <= parallelization_factor <= MAX_PARALLELIZATION:
        raise ValueError(f"parallelization_factor must be 1 to {MAX_PARALLELIZATION}")
    if standard_consumers < 0 or efo_consumers < 0 or standard_consumers + efo_consumers < 1:
        raise ValueError("consumers: at least one, standard or enhanced fan-out, and none negative")
    if record_bytes > max_record_bytes:
        errors.append(
            f"a {record_bytes}-byte record is larger than the stream takes ({max_record_bytes} bytes; "
            f"raisable to {MAX_RECORD_BYTES} with MaxRecordSizeKiB)"
        )
    shards_for_records = math.ceil(events_per_second / (SHARD_WRITE_RECORDS * headroom))
    shards_for_bytes = math.ceil(events_per_second * record_bytes / (SHARD_WRITE_BYTES * headroom))
    shards = max(1, shards_for_records, shards_for_bytes)
    concurrency = shards * parallelization_factor
    share = (concurrency + other_concurrency) / account_concurrency
    if share >= 1:
        errors.append(
            f"{shards} shards x ParallelizationFactor {parallelization_factor} = {concurrency} concurrent "
            f"executions: the account's whole quota of {account_concurrency} (ask for more, or lower the factor)"
        )
    elif share > 0.5:
        warnings.append(f"the consumer alone takes {share:.0%} of the account's {account_concurrency} concurrency")
    per_batch = 1000.0 / consumer_ms_per_record
    needed = math.ceil(events_per_second / shards / per_batch)
    if needed > parallelization_factor:
        message = (
            f"one batch handles ~{per_batch:.0f} records/s at {consumer_ms_per_record} ms/record; each shard gets "
            f"{events_per_second / shards:.0f}/s, which needs ParallelizationFactor {needed}"
        )
        if needed > MAX_PARALLELIZATION:
            errors.append(
                message + f" (above the maximum {MAX_PARALLELIZATION}: add shards or make the consumer faster)"
            )
        else:
            warnings.append(message + "; below it the iterator age grows until records expire")
    # Reads. Each standard consumer reads everything written: per shard, the write rate times their
    # number, out of 2 MiB/s; what is left is how fast they catch up after falling behind.
    written_per_shard = events_per_second * record_bytes / shards
    read_share = written_per_shard * standard_consumers / SHARD_READ_BYTES
    fitting = int(SHARD_READ_BYTES * headroom // written_per_shard) if written_per_shard else standard_consumers
    efo_needed = max(0, standard_consumers - fitting)
    if standard_consumers * LAMBDA_POLLS_PER_SECOND > SHARD_READ_CALLS:
        errors.append(
            f"{standard_consumers} standard consumers poll each shard {standard_consumers} times a second: more than "
            f"its {SHARD_READ_CALLS} GetRecords calls/s; move {standard_consumers - SHARD_READ_CALLS} or more to "
            "enhanced fan-out"
        )
    if read_share > 1:
        errors.append(
            f"{standard_consumers} standard consumers read {read_share * 2:.2f} MiB/s per shard, more than its "
            f"2 MiB/s: {efo_needed} of them need enhanced fan-out (or add shards)"
        )
    elif efo_needed:
        warnings.append(
            f"{standard_consumers} standard consumers use {read_share:.0%} of each shard's 2 MiB/s of reads: after an "
            f"outage they catch up only {1 / read_share:.1f}x faster than live; {efo_needed} on enhanced fan-out would "
            "give each its own 2 MiB/s"
        )
    if efo_consumers > MAX_EFO_CONSUMERS:
        errors.append(f"{efo_consumers} enhanced fan-out consumers: a stream takes {MAX_EFO_CONSUMERS}")

    seconds = HOURS_PER_MONTH * 3600
    units_per_record = max(1, math.ceil(record_bytes / 25_000))
    invocations = events_per_second / batch_size * seconds
    duration_seconds = events_per_second * consumer_ms_per_record / 1000 * seconds
    cost = {
        "kinesis_shards": shards * HOURS_PER_MONTH * PRICES["shard_hour"],
        "kinesis_put_units": events_per_second
        * seconds
        * units_per_record
        / 1e6
        * PRICES["put_payload_unit_per_million"],
        "kinesis_extended_retention": (
            shards * HOURS_PER_MONTH * PRICES["extended_retention_shard_hour"] if retention_hours > 24 else 0.0
        ),
        "lambda_consumer": invocations / 1e6 * PRICES["lambda_request_per_million"]
        + duration_seconds * lambda_memory_mb / 1024 * PRICES["lambda_arm64_gb_second"],
        # the event, plus the idempotency record's put and update; the aggregates consumer's claim
        "dynamodb_writes": events_per_second
        * seconds
        * (4 if aggregates else 3)
        * max(1, math.ceil(record_bytes / 1024))
        / 1e6
        * PRICES["dynamodb_write_request_unit_per_million"],
        # requests only: its duration per record is not measured yet (docs/performance.md)
        "lambda_aggregates_requests": (invocations / 1e6 * PRICES["lambda_request_per_million"] if aggregates else 0.0),
        "http_api": events_per_second / events_per_request * seconds / 1e6 * PRICES["http_api_request_per_million"],
        "kinesis_enhanced_fan_out": efo_consumers
        * (
            shards * HOURS_PER_MONTH * PRICES["efo_consumer_shard_hour"]
            + events_per_second * record_bytes * seconds / 1e9 * PRICES["efo_data_retrieval_per_gb"]
        ),
    }
    return Plan(
        events_per_second=events_per_second,
        record_bytes=record_bytes,
        shards=shards,
        shards_for_records=shards_for_records,
        shards_for_bytes=shards_for_bytes,
        parallelization_factor=parallelization_factor,
        consumer_concurrency=concurrency,
        account_share=share,
        parallelization_needed=needed,
        standard_consumers=standard_consumers,
        efo_consumers=efo_consumers,
        standard_read_share=read_share,
        efo_needed=efo_needed,
        monthly_cost={k: round(v, 2) for k, v in cost.items()},
        warnings=warnings,
        errors=errors,
    )


def render(result: Plan) -> str:
    lines = [
        f"target: {result.events_per_second:,.0f} events/s of {result.record_bytes:,} bytes",
        f"shards: {result.shards} (records need {result.shards_for_records}, bytes need {result.shards_for_bytes})",
        f"consumer concurrency: {result.consumer_concurrency} "
        f"(ParallelizationFactor {result.parallelization_factor}; {result.account_share:.1%} of the account quota)",
        f"ParallelizationFactor needed to keep up: {result.parallelization_needed}",
        f"reads: {result.standard_consumers} standard consumer(s) use {result.standard_read_share:.0%} of each shard's "
        f"2 MiB/s; {result.efo_consumers} on enhanced fan-out"
        + (f"; {result.efo_needed} should move to enhanced fan-out" if result.efo_needed else ""),
        "monthly cost, assumed list prices (load/planner.py PRICES):",
        *[f"  {name:<28} ${value:>12,.2f}" for name, value in result.monthly_cost.items()],
        f"  {'total':<28} ${result.monthly_total:>12,.2f}",
        *[f"warning: {w}" for w in result.warnings],
        *[f"error: {e}" for e in result.errors],
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Plan shards, concurrency and cost for a target load")
    parser.add_argument("--events-per-second", type=float, required=True)
    parser.add_argument("--record-bytes", type=int, required=True)
    parser.add_argument("--parallelization-factor", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--retention-hours", type=int, default=24)
    parser.add_argument("--consumer-ms-per-record", type=float, default=2.0)
    parser.add_argument("--headroom", type=float, default=0.8)
    parser.add_argument("--account-concurrency", type=int, default=DEFAULT_ACCOUNT_CONCURRENCY)
    parser.add_argument("--standard-consumers", type=int, default=2, help="mappings on the stream itself")
    parser.add_argument("--efo-consumers", type=int, default=0, help="mappings on enhanced fan-out consumers")
    args = parser.parse_args(argv)
    try:
        result = plan(
            args.events_per_second,
            args.record_bytes,
            parallelization_factor=args.parallelization_factor,
            batch_size=args.batch_size,
            retention_hours=args.retention_hours,
            consumer_ms_per_record=args.consumer_ms_per_record,
            headroom=args.headroom,
            account_concurrency=args.account_concurrency,
            standard_consumers=args.standard_consumers,
            efo_consumers=args.efo_consumers,
        )
    except ValueError as exc:
        print(f"plan: {exc}")
        return 2
    print(render(result))
    return 1 if result.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
