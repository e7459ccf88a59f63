"""Capacity planner: from target events/s and record size to shards, consumer concurrency and cost.

    python -m load.planner --events-per-second 5000 --record-bytes 1200 [--parallelization-factor 2]
        [--standard-consumers 1] [--efo-consumers 0] [--events-retention-days 30]
        [--billing-mode on-demand|provisioned] [--autoscaling-target 0.7]

Reads: every standard consumer (an event source mapping on the stream itself) shares each shard's
5 GetRecords calls/s and 2 MiB/s with the others; an enhanced fan-out consumer (a stream consumer,
SubscribeToShard) has 2 MiB/s per shard of its own, at a price per consumer-shard hour and per GB.
Weir's first consumer reads the stream (standard by default); the second reads the events table's
change stream, whose reads by Lambda are free.

DynamoDB: each event is one item in the events table, one write of :func:`write_units_per_event`
units (B8 measures it, and a test keeps the two equal), plus a commit per window, type and stream
shard for the aggregates; the table's storage and point-in-time recovery grow with
``EventsRetentionDays``. Provisioned capacity is priced at the auto-scaling target's utilisation.

The limits are Kinesis' and Lambda's (docs/aws-facts.md); the prices are assumptions stated in
:data:`PRICES` (us-east-1 list prices, DynamoDB's after its November 2024 cut) — check them for your region.
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
GIB = 1024**3
WRITE_UNIT_BYTES = 1024
# What a stored event's item adds to its record: stored_at and expires_at, less the JSON punctuation
# the item does not keep (measured with load.dynamodb_units on Weir's own item of the load test's
# envelope: tests/unit/test_planner.py keeps it true; every further payload field saves ~5 bytes, and
# a number about half its digits, so for other payloads the estimate runs high, not low).
ITEM_OVERHEAD_BYTES = 15
# DynamoDB counts 100 bytes an item for indexing in its storage ("DynamoDB item sizes and formats").
STORAGE_OVERHEAD_BYTES = 100
# The KPL format's cost (weir/kpl.py): per event, its key-table and record entries' tags and lengths
# (about 8 bytes; the key is in record_bytes already); per aggregate, the magic, the MD5 and its own
# partition key (weir-aggregate-N).
KPL_EVENT_OVERHEAD_BYTES = 8
KPL_AGGREGATE_OVERHEAD_BYTES = 4 + 16 + 16
LAMBDA_BATCH_BYTES = 6 * 1024 * 1024  # a Kinesis batch's payload limit for the function
# One stream shard of a table per this many write units a second (DynamoDB partitions take 1,000).
WRITE_UNITS_PER_STREAM_SHARD = 1000

PRICES = {
    "shard_hour": 0.015,  # provisioned shard-hour
    "put_payload_unit_per_million": 0.014,  # 25 KB PUT payload units
    "extended_retention_shard_hour": 0.020,  # retention above 24 h, per shard-hour
    "lambda_request_per_million": 0.20,
    "lambda_arm64_gb_second": 0.0000133334,
    "dynamodb_write_request_unit_per_million": 0.625,  # on-demand; a 1 KB item is one unit
    "dynamodb_read_request_unit_per_million": 0.125,  # on-demand; a strongly consistent 4 KB read
    "dynamodb_wcu_hour": 0.00065,  # provisioned write capacity unit-hour
    "dynamodb_rcu_hour": 0.00013,  # provisioned read capacity unit-hour
    "dynamodb_storage_gb_month": 0.25,  # Standard table class (the first 25 GB a month are free)
    "dynamodb_pitr_gb_month": 0.20,  # continuous backups, of the table's size
    "http_api_request_per_million": 1.00,
    "efo_consumer_shard_hour": 0.015,  # enhanced fan-out, per consumer and shard
    "efo_data_retrieval_per_gb": 0.013,  # enhanced fan-out, per GB delivered to each consumer
    # Firehose reading a Kinesis stream: per GB ingested, each record rounded up to 5 KB
    "firehose_ingestion_per_gb": 0.029,
    "s3_standard_gb_month": 0.023,
}
# Firehose bills each record it ingests in 5 KB steps.
FIREHOSE_RECORD_STEP_BYTES = 5 * 1024
# An event in the archive, gzipped, per byte of its record: measured on the load test's events (191
# bytes each archive as 46: their JSON line with metadata and base64, then gzip), so 0.24; other
# payloads compress differently.
ARCHIVE_BYTES_PER_RECORD_BYTE = 0.25


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

    @property
    def cost_per_million_events(self) -> float:
        """The month's total over the month's events: what a bill that follows the plan costs per
        million events (the dashboard's text widget, PlannedCostPerMillionEvents)."""
        events = self.events_per_second * HOURS_PER_MONTH * 3600
        return self.monthly_total / events * 1e6 if events else 0.0


def events_per_record(
    aggregation: str, events_per_request: int, shards: int, lanes: int, event_bytes: int, max_record_bytes: int
) -> float:
    """Events per Kinesis record: 1, or with kpl those of a request that share a shard and a lane
    (weir.ingest.aggregation), as many as fit in the record limit."""
    if aggregation != "kpl":
        return 1.0
    fit = max(1, (max_record_bytes - KPL_AGGREGATE_OVERHEAD_BYTES) // event_bytes)
    return max(1.0, min(events_per_request / (shards * lanes), float(fit)))


def write_units_per_event(item_bytes: int) -> int:
    """The process consumer's write units for one event: its item's one conditional put, first
    delivery or copy (DynamoDB bills a failed condition as the write)."""
    return max(1, math.ceil(item_bytes / WRITE_UNIT_BYTES))


def plan(
    events_per_second: float,
    record_bytes: int,
    parallelization_factor: int = 2,
    batch_size: int = 100,
    retention_hours: int = 24,
    consumer_ms_per_record: float = 0.6,
    headroom: float = 0.8,
    account_concurrency: int = DEFAULT_ACCOUNT_CONCURRENCY,
    other_concurrency: int = 0,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    events_per_request: int = 100,
    lambda_memory_mb: int = 1769,
    standard_consumers: int = 1,
    efo_consumers: int = 0,
    aggregates: bool = True,
    events_retention_days: int = 30,
    billing_mode: str = "on-demand",
    autoscaling_target: float = 0.7,
    event_types: int = 4,
    window_seconds: int = 60,
    aggregation: str = "none",
    archive_retention_days: int = 0,
) -> Plan:
    """``consumer_ms_per_record`` defaults to B3's figure for the template's defaults (Weir's sink,
    32 keys, coalesced writes: 0.57 ms in make bench of 2026-12-04; docs/performance.md), measured on
    one core against DynamoDB calls that take 5 ms: what
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
    if billing_mode not in ("on-demand", "provisioned"):
        raise ValueError("billing_mode must be on-demand or provisioned")
    if not 0.2 <= autoscaling_target <= 0.9:
        raise ValueError("autoscaling_target must be in [0.2, 0.9] (DynamoDB auto scaling's range)")
    if events_retention_days < 0:
        raise ValueError("events_retention_days must be >= 0 (0: kept for ever, priced as one year)")
    if record_bytes > max_record_bytes:
        errors.append(
            f"a {record_bytes}-byte record is larger than the stream takes ({max_record_bytes} bytes; "
            f"raisable to {MAX_RECORD_BYTES} with MaxRecordSizeKiB)"
        )
    if aggregation not in ("none", "kpl"):
        raise ValueError("aggregation must be none or kpl")
    # With kpl, an event is a user record inside an aggregate: its bytes plus the format's few per event.
    event_bytes = record_bytes + (KPL_EVENT_OVERHEAD_BYTES if aggregation == "kpl" else 0)
    shards_for_bytes = math.ceil(events_per_second * event_bytes / (SHARD_WRITE_BYTES * headroom))
    shards = max(1, shards_for_bytes)
    for _ in range(3):  # events per record depend on the shards a request's events spread over
        per_record = events_per_record(
            aggregation, events_per_request, shards, parallelization_factor, event_bytes, max_record_bytes
        )
        shards_for_records = math.ceil(events_per_second / per_record / (SHARD_WRITE_RECORDS * headroom))
        shards = max(1, shards_for_records, shards_for_bytes)
    records_per_second = events_per_second / per_record
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
    if archive_retention_days > 0:
        standard_consumers += 1  # Firehose reads the stream for the archive like any standard consumer
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
    units_per_record = max(1, math.ceil(per_record * event_bytes / 25_000))
    dynamodb = dynamodb_cost(
        events_per_second,
        record_bytes,
        events_retention_days=events_retention_days,
        billing_mode=billing_mode,
        autoscaling_target=autoscaling_target,
        batches_per_second=events_per_second / batch_size,
        commits_per_second=(event_types * window_shards(events_per_second, record_bytes) / window_seconds)
        if aggregates
        else 0.0,
    )
    # Lambda's batches count Kinesis records, and hold at most 6 MB
    invocations = max(records_per_second / batch_size, events_per_second * event_bytes / LAMBDA_BATCH_BYTES) * seconds
    duration_seconds = events_per_second * consumer_ms_per_record / 1000 * seconds
    cost = {
        "kinesis_shards": shards * HOURS_PER_MONTH * PRICES["shard_hour"],
        "kinesis_put_units": records_per_second
        * seconds
        * units_per_record
        / 1e6
        * PRICES["put_payload_unit_per_million"],
        "kinesis_extended_retention": (
            shards * HOURS_PER_MONTH * PRICES["extended_retention_shard_hour"] if retention_hours > 24 else 0.0
        ),
        "lambda_consumer": invocations / 1e6 * PRICES["lambda_request_per_million"]
        + duration_seconds * lambda_memory_mb / 1024 * PRICES["lambda_arm64_gb_second"],
        # requests only: its duration per record is not measured yet (docs/performance.md)
        # the aggregates consumer reads the events table's change stream: one record per stored event
        "lambda_aggregates_requests": (
            events_per_second / batch_size * seconds / 1e6 * PRICES["lambda_request_per_million"] if aggregates else 0.0
        ),
        **dynamodb,
        "http_api": events_per_second / events_per_request * seconds / 1e6 * PRICES["http_api_request_per_million"],
        "archive_firehose": records_per_second
        * seconds
        * math.ceil(per_record * event_bytes / FIREHOSE_RECORD_STEP_BYTES)
        * FIREHOSE_RECORD_STEP_BYTES
        / GIB
        * PRICES["firehose_ingestion_per_gb"]
        if archive_retention_days > 0
        else 0.0,
        # steady state: the retention's worth of events, gzipped
        "archive_storage": events_per_second
        * 86_400
        * archive_retention_days
        * record_bytes
        * ARCHIVE_BYTES_PER_RECORD_BYTE
        / GIB
        * PRICES["s3_standard_gb_month"],
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


def window_shards(events_per_second: float, record_bytes: int) -> int:
    """The events table's stream shards, about one per partition (1,000 write units a second)."""
    units = events_per_second * write_units_per_event(record_bytes + ITEM_OVERHEAD_BYTES)
    return max(1, math.ceil(units / WRITE_UNITS_PER_STREAM_SHARD))


def dynamodb_cost(
    events_per_second: float,
    record_bytes: int,
    events_retention_days: int,
    billing_mode: str,
    autoscaling_target: float,
    batches_per_second: float,
    commits_per_second: float,
) -> dict[str, float]:
    """A month of the events table and the aggregates: writes, reads, storage, point-in-time recovery."""
    seconds = HOURS_PER_MONTH * 3600
    item = record_bytes + ITEM_OVERHEAD_BYTES
    write_units = events_per_second * write_units_per_event(item) + commits_per_second
    # the breaker's state, read once a batch (strongly consistent, a small item)
    read_units = batches_per_second
    if billing_mode == "provisioned":
        writes = write_units / autoscaling_target * HOURS_PER_MONTH * PRICES["dynamodb_wcu_hour"]
        reads = max(1.0, read_units / autoscaling_target) * HOURS_PER_MONTH * PRICES["dynamodb_rcu_hour"]
    else:
        writes = write_units * seconds / 1e6 * PRICES["dynamodb_write_request_unit_per_million"]
        reads = read_units * seconds / 1e6 * PRICES["dynamodb_read_request_unit_per_million"]
    # kept for ever is priced as a year of events: what a table that never expires holds by then
    days = events_retention_days or 365
    stored_gib = events_per_second * 86_400 * days * (item + STORAGE_OVERHEAD_BYTES) / GIB
    return {
        "dynamodb_writes": writes,
        "dynamodb_reads": reads,
        "dynamodb_storage": stored_gib * PRICES["dynamodb_storage_gb_month"],
        "dynamodb_point_in_time_recovery": stored_gib * PRICES["dynamodb_pitr_gb_month"],
    }


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
        *[f"  {name:<32} ${value:>12,.2f}" for name, value in result.monthly_cost.items()],
        f"  {'total':<32} ${result.monthly_total:>12,.2f}",
        f"cost per million events: ${result.cost_per_million_events:,.2f} "
        f"(the dashboard shows it: PlannedCostPerMillionEvents={result.cost_per_million_events:.2f})",
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
    parser.add_argument("--consumer-ms-per-record", type=float, default=0.6)
    parser.add_argument("--headroom", type=float, default=0.8)
    parser.add_argument("--account-concurrency", type=int, default=DEFAULT_ACCOUNT_CONCURRENCY)
    parser.add_argument("--standard-consumers", type=int, default=1, help="mappings on the stream itself")
    parser.add_argument("--efo-consumers", type=int, default=0, help="mappings on enhanced fan-out consumers")
    parser.add_argument("--events-retention-days", type=int, default=30, help="EventsRetentionDays (0: for ever)")
    parser.add_argument("--billing-mode", choices=["on-demand", "provisioned"], default="on-demand")
    parser.add_argument("--autoscaling-target", type=float, default=0.7, help="provisioned: utilisation aimed at")
    parser.add_argument("--events-per-request", type=int, default=100, help="events per POST /events")
    parser.add_argument("--producer-aggregation", choices=["none", "kpl"], default="none", help="ProducerAggregation")
    parser.add_argument(
        "--archive-retention-days", type=int, default=365, help="ArchiveRetentionDays (0: ArchiveEnabled=false)"
    )
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
            events_retention_days=args.events_retention_days,
            billing_mode=args.billing_mode,
            autoscaling_target=args.autoscaling_target,
            events_per_request=args.events_per_request,
            aggregation=args.producer_aggregation,
            archive_retention_days=args.archive_retention_days,
        )
    except ValueError as exc:
        print(f"plan: {exc}")
        return 2
    print(render(result))
    return 1 if result.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
