"""make replay on the local pipeline: events deleted from the events table come back from a replay of
the stream, and from one of its archive, each once, the aggregates unchanged for events they counted
already; a replay cut short (by a bound, by its function's deadline) goes on from its place; a second
replay stores nothing; a dry run changes nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from local.run import Demo
from local.runtime import LocalRuntime
from tools.replay import main as replay

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    # short windows: the aggregates are committed soon after the traffic ends
    # the archive writes an object every round (Firehose's buffer interval 0); replay runs of 30 s
    # (25 s of work) at 1 record a second, so that a large enough range takes more than one run
    params = {
        "TumblingWindowInSeconds": "5",
        "ArchiveBufferSeconds": "0",
        "RedriveTimeoutSeconds": "30",
        "RedriveRecordsPerSecond": "1",
    }
    running = LocalRuntime(port=0, api_port=0, stack_name="replay", params=params).start()
    try:
        yield running
    finally:
        running.stop()


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def replayed(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """make replay with ``args``: what it printed, once it exited 0 (every event put back stored)."""
    code = replay(list(args))
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def ledger(out: str) -> dict[str, int]:
    """The ledger's ``  name  N`` lines."""
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("  ") and len(parts) == 2 and parts[1].isdigit():
            rows[parts[0]] = int(parts[1])
    return rows


def settled(demo: Demo, stored: int, changes: int) -> dict[str, int]:
    """The aggregates once ``stored`` events are in the table, the aggregates consumer has taken
    ``changes`` new items from the table's stream, and every window it opened is committed."""
    mapping = demo.runtime.mapping("AggregateFunction")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (
        len(demo.stored_ids()) < stored or mapping.stats.records_processed < changes
    ):
        time.sleep(1)
    assert mapping.stats.records_processed == changes
    assert demo.wait_for_windows(60)
    return demo.aggregate_counts()


@dataclass
class Range:
    """A phase of events posted and settled: their ids, the range they arrived in, and the table's
    and the aggregates consumer's figures from before it."""

    ids: set[str]
    start: datetime
    end: datetime
    stored_before: int
    changes_before: int
    counts: dict[str, int]


def posted_and_settled(demo: Demo, name: str, requests: int) -> Range:
    """``requests`` requests of 10 events of phase ``name``, every one stored and counted."""
    changes = demo.runtime.mapping("AggregateFunction").stats.records_processed
    before = len(demo.stored_ids())
    start = datetime.now(UTC) - timedelta(seconds=1)
    demo.phase(name, requests, 10, 2)
    ids = {e for e in demo.accepted if e.startswith(f"{name}-")}
    assert len(ids) == requests * 10
    counts = settled(demo, before + len(ids), changes=changes + len(ids))
    assert counts.get(f"demo.{name}") == len(ids)
    return Range(ids, start, datetime.now(UTC) + timedelta(seconds=1), before, changes, counts)


def lose(demo: Demo, event_ids: list[str]) -> None:
    """Delete ``event_ids`` from the events table (a sink restored from an older backup)."""
    for event_id in event_ids:
        demo.dynamodb.delete_item(TableName=demo.events_table, Key={"event_id": {"S": event_id}})


@pytest.mark.timeout(400)
def test_deleted_events_come_back_once_and_a_second_replay_or_a_dry_run_changes_nothing(
    runtime: LocalRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = Demo(runtime)
    phase = posted_and_settled(demo, "replayed", 4)
    start, end, counts = phase.start, phase.end, phase.counts
    time.sleep(1.5)  # the range has ended

    # GIVEN ten events lost from the events table (a sink restored from an older backup)
    lost = sorted(phase.ids)[:10]
    lose(demo, lost)
    assert len(demo.stored_ids() & phase.ids) == 30

    # WHEN the range is replayed in runs of at most 15 records (each run stops, the next goes on)
    out = replayed(capsys, "--from", iso(start), "--to", iso(end), "--max-records", "15")
    assert out.count("stopped: max_records") >= 2  # cut, and resumed from its place
    # THEN the ledger accounts for the range, and the ten are back, once each, marked as replayed
    assert ledger(out) == {"read": 40, "replayed": 10, "stored_new": 10, "already_stored": 30}
    assert phase.ids <= demo.stored_ids()
    items = {i["event_id"]["S"]: i for i in demo._scan(demo.events_table)}
    assert sorted(e for e in phase.ids if items[e].get("origin", {}).get("S") == "replay") == lost
    # AND the aggregates, which had counted them, are unchanged (the consumer took the ten new items)
    assert settled(demo, phase.stored_before + 40, changes=phase.changes_before + 50) == counts

    # WHEN the same range is replayed again THEN nothing is put back, nothing stored anew
    out = replayed(capsys, "--from", iso(start), "--to", iso(end))
    assert ledger(out) == {"read": 40, "replayed": 0, "stored_new": 0, "already_stored": 40}

    # WHEN one more is lost and a dry run is asked THEN it says what it would do and does nothing
    lose(demo, lost[:1])
    out = replayed(capsys, "--from", iso(start), "--to", iso(end), "--dry-run")
    assert ledger(out) == {"read": 40, "replayed": 0, "stored_new": 0, "already_stored": 39, "would_replay": 1}
    time.sleep(3)
    assert lost[0] not in demo.stored_ids()
    assert settled(demo, phase.stored_before + 39, changes=phase.changes_before + 50) == counts


def archived_ids(demo: Demo) -> set[str]:
    """The event ids in the archive's objects (weir.archive.record), as a replay reads them."""
    import json

    from weir.archive.record import PREFIX, read_object

    bucket = demo.outputs["ArchiveBucketName"]
    ids = set()
    for page in demo.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        for entry in page.get("Contents", []):
            body = demo.s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            ids |= {json.loads(r.data)["event_id"] for r in read_object(body)}
    return ids


@pytest.mark.timeout(300)
def test_deleted_events_come_back_once_from_the_archive(
    runtime: LocalRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = Demo(runtime)
    phase = posted_and_settled(demo, "archived", 2)
    # GIVEN every event of the range in the archive (Firehose's objects, by arrival hour)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not phase.ids <= archived_ids(demo):
        time.sleep(1)
    assert phase.ids <= archived_ids(demo)
    time.sleep(1.5)
    # AND five of them lost from the events table
    lose(demo, sorted(phase.ids)[:5])
    # WHEN the range is replayed from the archive THEN the five are back, once each; the aggregates hold
    out = replayed(capsys, "--from", iso(phase.start), "--to", iso(phase.end), "--source", "archive")
    assert ledger(out) == {"read": 20, "replayed": 5, "stored_new": 5, "already_stored": 15}
    assert phase.ids <= demo.stored_ids()
    assert settled(demo, phase.stored_before + 20, changes=phase.changes_before + 25) == phase.counts


@pytest.mark.timeout(300)
def test_a_replay_its_deadline_cuts_goes_on_in_the_next_run_and_finishes(
    runtime: LocalRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = Demo(runtime)
    phase = posted_and_settled(demo, "deadline", 11)
    time.sleep(1.5)
    # GIVEN 100 events lost: at 1 record a second, more than one 25-second run puts them back
    lose(demo, sorted(phase.ids)[:100])
    out = replayed(capsys, "--from", iso(phase.start), "--to", iso(phase.end))
    # THEN the first run stops when its time would run out, and the next goes on from its place
    assert "stopped: rate" in out or "stopped: deadline" in out
    assert ledger(out) == {"read": 110, "replayed": 100, "stored_new": 100, "already_stored": 10}
    assert phase.ids <= demo.stored_ids()
    assert settled(demo, phase.stored_before + 110, changes=phase.changes_before + 210) == phase.counts
