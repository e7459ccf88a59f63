"""The capacity planner against the limits in docs/aws-facts.md."""

from __future__ import annotations

import math
from typing import Any

import pytest

from load.planner import events_per_record, main, plan


def test_one_shard_takes_exactly_1000_records_per_second_at_full_use() -> None:
    assert plan(1000, 100, headroom=1.0).shards == 1
    assert plan(1001, 100, headroom=1.0).shards == 2


def test_bytes_decide_when_records_are_large() -> None:
    # 1 MiB/s per shard: 100 records/s of 20 KiB is 2 MB/s, two shards although the count is tiny
    result = plan(100, 20 * 1024, headroom=1.0)
    assert (result.shards_for_records, result.shards_for_bytes, result.shards) == (1, 2, 2)


def test_headroom_leaves_room_below_the_limit() -> None:
    assert plan(1600, 100, headroom=0.8).shards == 2
    assert plan(1601, 100, headroom=0.8).shards == 3


def test_consumer_concurrency_is_shards_times_the_parallelization_factor() -> None:
    result = plan(4000, 100, parallelization_factor=3, headroom=1.0)
    assert result.shards == 4
    assert result.consumer_concurrency == 12


def test_100_shards_at_factor_10_take_the_whole_default_quota() -> None:
    result = plan(100_000, 100, parallelization_factor=10, headroom=1.0)
    assert result.shards == 100
    assert result.consumer_concurrency == 1000
    assert result.account_share == 1.0
    assert any("whole quota of 1000" in e for e in result.errors)


def test_more_than_half_the_quota_is_a_warning() -> None:
    result = plan(60_000, 100, parallelization_factor=10, headroom=1.0, consumer_ms_per_record=1.0)
    assert any("of the account's 1000 concurrency" in w for w in result.warnings)
    assert not result.errors


def test_a_slow_consumer_needs_a_higher_factor_and_says_so() -> None:
    # 12.3 ms/record -> ~81 records/s per batch; a saturated shard (1,000/s) needs 13
    result = plan(1000, 100, headroom=1.0, consumer_ms_per_record=12.3, parallelization_factor=2)
    assert result.parallelization_needed == 13
    assert any("above the maximum 10" in e for e in result.errors)
    fast = plan(1000, 100, headroom=1.0, consumer_ms_per_record=2.0, parallelization_factor=2)
    assert fast.parallelization_needed == 2
    assert not fast.errors
    assert not fast.warnings


def test_a_record_larger_than_the_stream_takes_is_an_error() -> None:
    assert any("larger than the stream takes" in e for e in plan(10, 2 * 1024 * 1024).errors)


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"headroom": 0}, "headroom"), ({"parallelization_factor": 11}, "1 to 10")]
)
def test_bad_input_is_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan(100, 100, **kwargs)  # type: ignore[arg-type]


def test_cost_grows_with_shards_and_extended_retention() -> None:
    small, large = plan(1000, 100), plan(10_000, 100)
    assert large.monthly_cost["kinesis_shards"] > small.monthly_cost["kinesis_shards"]
    assert plan(1000, 100, retention_hours=168).monthly_cost["kinesis_extended_retention"] > 0
    assert small.monthly_cost["kinesis_extended_retention"] == 0
    assert small.monthly_total == round(sum(small.monthly_cost.values()), 2)


def test_the_cli_prints_the_plan_and_fails_on_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--events-per-second", "1500", "--record-bytes", "1000", "--consumer-ms-per-record", "2"]) == 0
    out = capsys.readouterr().out
    assert "shards: 2" in out
    assert "total" in out
    assert main(["--events-per-second", "100000", "--record-bytes", "100", "--parallelization-factor", "10"]) == 1


def test_the_timeline_turns_samples_into_rates_and_a_png(tmp_path: object) -> None:
    from pathlib import Path

    from load.plot import Sample, Timeline

    timeline = Timeline(
        [Sample(0.0, 0, 0, 0, 0, 0, 2), Sample(2.0, 200, 180, 100, 1500, 2, 2), Sample(4.0, 400, 380, 300, 500, 1, 2)]
    )
    assert timeline.concurrency() == (2, 2)
    rates = timeline.rates()
    assert rates["t"] == [2.0, 4.0]
    assert rates["offered"] == [100.0, 100.0]
    assert rates["accepted"] == [90.0, 100.0]
    assert rates["processed"] == [50.0, 100.0]
    assert rates["age"] == [1.5, 0.5]
    path = Path(str(tmp_path)) / "plot.png"
    assert timeline.plot(path, "test")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_two_standard_consumers_share_each_shards_reads() -> None:
    # 1,000 records/s of 1,000 bytes on one shard: each consumer reads ~0.95 MiB/s of its 2 MiB/s
    result = plan(1000, 1000, headroom=1.0, standard_consumers=2)
    assert result.standard_read_share == pytest.approx(2 * 1000 * 1000 / (2 * 1024 * 1024))
    assert result.efo_needed == 0
    assert not result.errors


def test_reads_past_the_shared_2_mib_need_enhanced_fan_out_and_say_how_many() -> None:
    # three consumers of a nearly full shard (1,048,000 bytes/s written): 3.1 MB/s of reads from 2 MiB/s
    result = plan(1000, 1048, headroom=1.0, standard_consumers=3)
    assert result.shards == 1
    assert result.efo_needed == 1
    assert any("1 of them need enhanced fan-out" in e for e in result.errors)
    moved = plan(1000, 1048, headroom=1.0, standard_consumers=2, efo_consumers=1)
    assert moved.efo_needed == 0
    assert not moved.errors


def test_little_room_left_to_catch_up_is_a_warning() -> None:
    # three consumers of 630,000 bytes/s per shard read 90 % of its 2 MiB/s: they fit, but beyond the
    # 80 % headroom, and catch up only 1.1x faster than live after an outage
    result = plan(700, 900, headroom=0.8, standard_consumers=3)
    assert result.shards == 1
    assert result.efo_needed == 1
    assert not result.errors
    assert any("catch up only 1.1x" in w for w in result.warnings)


def test_more_standard_consumers_than_getrecords_calls_is_an_error() -> None:
    result = plan(10, 100, standard_consumers=6)
    assert any("5 GetRecords calls/s" in e for e in result.errors)


def test_enhanced_fan_out_is_priced_per_consumer_shard_hour_and_per_gb() -> None:
    base = plan(1000, 1000, headroom=1.0)
    two = plan(1000, 1000, headroom=1.0, efo_consumers=2)
    assert base.monthly_cost["kinesis_enhanced_fan_out"] == 0
    gb = 1000 * 1000 * 730 * 3600 / 1e9
    expected = 2 * (1 * 730 * 0.015 + gb * 0.013)
    assert two.monthly_cost["kinesis_enhanced_fan_out"] == pytest.approx(expected, abs=0.01)


def test_no_consumer_at_all_is_refused() -> None:
    with pytest.raises(ValueError, match="consumers"):
        plan(10, 100, standard_consumers=0, efo_consumers=0)


# --- DynamoDB: one write per event, storage, point-in-time recovery, provisioned capacity -----


def test_an_event_is_one_write_unit_per_started_kilobyte_of_its_item() -> None:
    from load.planner import write_units_per_event

    assert [write_units_per_event(n) for n in (1, 1024, 1025, 4096)] == [1, 1, 2, 4]


def test_the_item_overhead_is_what_weirs_sink_adds_to_the_load_tests_records() -> None:
    import json

    from load.dynamodb_units import item_bytes
    from load.events import make_events
    from load.planner import ITEM_OVERHEAD_BYTES
    from tests.unit.test_sinks import AnyPayload
    from weir.consumer.dynamodb_sink import DynamoDBEventSink
    from weir.models import Event
    from weir.payloads import EventTypes

    sink = DynamoDBEventSink(None, "events", retention_seconds=30 * 86_400)

    def overhead(event: dict[str, Any]) -> int:
        record = json.dumps(event, separators=(",", ":")).encode()
        item = sink.item(EventTypes({}, other=AnyPayload).validate(Event.model_validate(event)))
        return item_bytes(item) - len(record)

    # Exact (within 2 bytes) for an envelope of Weir's own example's shape: two payload fields.
    weirs = {"type": "example.recorded", "occurred_at": "2026-12-04T12:00:00Z", "partition_key": "load-key-7"}
    for n in (0, 7, 42):
        event = {"event_id": f"load-{n:036d}", **weirs, "payload": {"n": n, "note": f"example {n}"}}
        assert abs(overhead(event) - ITEM_OVERHEAD_BYTES) <= 2
    # Never an under-estimate for the load test's events, whatever the domain's payloads: each
    # further payload field, and a number's every two digits, make the item smaller than its JSON.
    for event in [*make_events(5), {"event_id": "e", **weirs, "payload": {"n": 10**30, "a": 1, "b": [1, 2]}}]:
        assert overhead(event) <= ITEM_OVERHEAD_BYTES + 2


def test_writes_follow_the_item_size_and_the_billing_mode() -> None:
    small = plan(1000, 900)
    large = plan(1000, 1100)  # past 1 KB: two units a write
    assert large.monthly_cost["dynamodb_writes"] > 1.9 * small.monthly_cost["dynamodb_writes"]
    provisioned = plan(1000, 900, billing_mode="provisioned", autoscaling_target=0.7)
    # since DynamoDB's November 2024 price cut, provisioned at 70 % is about 41 % of on-demand
    ratio = provisioned.monthly_cost["dynamodb_writes"] / small.monthly_cost["dynamodb_writes"]
    assert ratio == pytest.approx(0.41, abs=0.01)


def test_storage_and_point_in_time_recovery_grow_with_the_retention() -> None:
    month = plan(1000, 1000, events_retention_days=30)
    quarter = plan(1000, 1000, events_retention_days=90)
    assert quarter.monthly_cost["dynamodb_storage"] == pytest.approx(
        3 * month.monthly_cost["dynamodb_storage"], rel=1e-3
    )
    pitr, storage = month.monthly_cost["dynamodb_point_in_time_recovery"], month.monthly_cost["dynamodb_storage"]
    assert pitr == pytest.approx(storage * 0.20 / 0.25, rel=1e-3)
    # 1,000 events/s of 1 KB kept 30 days: about 2.6 TB, $650 of storage a month
    assert 600 < storage < 750
    assert plan(1000, 1000, events_retention_days=0).monthly_cost["dynamodb_storage"] > 12 * storage


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"billing_mode": "spot"}, "billing_mode"),
        ({"autoscaling_target": 0.95}, "autoscaling_target"),
        ({"events_retention_days": -1}, "events_retention_days"),
    ],
)
def test_bad_dynamodb_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan(1000, 100, **kwargs)


def test_kpl_aggregation_plans_shards_by_bytes_and_prices_fewer_put_units() -> None:
    # 10,000 events/s of 200 bytes, requests of 500: one record per event needs a shard per 800 records/s;
    # aggregated, the bytes decide (2 MB/s at 80 % of 1 MiB/s per shard) and a record carries many events
    plain = plan(10_000, 200, events_per_request=500)
    packed = plan(10_000, 200, events_per_request=500, aggregation="kpl")
    assert (plain.shards, plain.shards_for_records) == (13, 13)
    assert packed.shards == packed.shards_for_bytes == math.ceil(10_000 * (200 + 8) / (1024 * 1024 * 0.8))
    # a request's 500 events spread over 3 shards x 2 lanes: about 83 events, 17 KB, one PUT unit per record
    assert packed.monthly_cost["kinesis_put_units"] < plain.monthly_cost["kinesis_put_units"] / 50
    assert packed.monthly_cost["kinesis_shards"] < plain.monthly_cost["kinesis_shards"] / 4


def test_kpl_aggregates_never_exceed_the_record_limit_or_a_requests_share() -> None:
    assert events_per_record("kpl", 500, 1, 1, 100_000, 1024 * 1024) == (1024 * 1024 - 36) // 100_000
    assert events_per_record("kpl", 10, 5, 2, 100, 1024 * 1024) == 1.0  # fewer events than shards x lanes
    assert events_per_record("none", 500, 1, 1, 100, 1024 * 1024) == 1.0
