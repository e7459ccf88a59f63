"""B8's promise, at a small size: the process consumer writes at most one unit per event in every
case of a copy coming back, both consumers at most two, and a first delivery costs what the capacity
planner charges (load.planner.write_units_per_event), so the plan and the measurement cannot drift."""

from __future__ import annotations

import pytest

from load import bench_units
from load.planner import write_units_per_event

pytestmark = pytest.mark.integration


def test_the_measured_write_units_are_within_the_promise_and_equal_the_plans() -> None:
    result = bench_units.measure(events=24, payload_bytes=300)
    assert bench_units.check(result) == []
    first = result["cases"][0]
    assert first["process_write_units_per_event"] == write_units_per_event(result["event_item_bytes"]) == 1
    # every copy costs its one conditional write, and makes the second consumer write nothing
    for row in result["cases"][1:5]:
        assert row["process_write_units_per_event"] == 1.0, row
        assert row["aggregates_write_units_per_event"] == 0.0, row
