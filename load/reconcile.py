"""Reconciliation: every event id sent is in the events table, or waiting where an operator sees it,
or it was refused to the client (not taken) — otherwise it is lost, and the load test fails.

Cost is linear in the events sent, and nothing waiting is touched:

* the events table: ``BatchGetItem`` of 100 ids per call, one client, each id checked in one final pass
  (the drain before it checks only the newest ids until they are in, see :func:`drain`);
* the overflow queue: **counted, never received**. Which events wait there is the API's own answer
  (``"spilled"``, after SQS took the message); the queue's counts (visible, in flight, delayed) must
  cover them. Receiving would hide messages from the redrive function, count receives, and can
  neither outlive a visibility timeout on a long count nor hold more than 120,000 in flight;
* the S3 failure destination: its objects, read (reading changes nothing);
* the stream, read from the trim horizon only when accepted events are still unaccounted after the
  above (the consumer is behind): those found there are backlog, not lost.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.readback import failure_destination_event_ids, stream_records
from tools.readback import queue_count as count_queue
from tools.stack import StackInfo

KEYS_PER_CALL = 100  # BatchGetItem's limit


class Interrupted(Exception):
    """The run was stopped (Ctrl-C) while reconciling."""


@dataclass
class Ledger:
    """What the clients know of each event id. Insertion-ordered (dicts), so the newest are last.

    Every id sent is pending until the client records an outcome for it; whatever is still pending
    when the run ends (a request cut off when Locust stopped its user, an answer the client did not
    understand) is reconciled as unanswered, never dropped from the count."""

    sent_count: int = 0
    accepted_ids: dict[str, None] = field(default_factory=dict)
    spilled_ids: set[str] = field(default_factory=set)  # accepted into the overflow queue, not the stream
    not_taken_ids: set[str] = field(default_factory=set)
    unanswered_ids: set[str] = field(default_factory=set)  # no answer: taken or not, the client cannot tell
    pending_ids: dict[str, None] = field(default_factory=dict)  # sent, no outcome recorded yet

    def sent(self, ids: list[str]) -> None:
        self.sent_count += len(ids)
        self.pending_ids.update(dict.fromkeys(ids))

    def _answered(self, ids: list[str]) -> list[str]:
        pop = self.pending_ids.pop
        for event_id in ids:
            pop(event_id, None)
        return ids

    def accepted(self, ids: Iterable[str], spilled: Iterable[str] = ()) -> None:
        self.accepted_ids.update(dict.fromkeys(self._answered(list(ids))))
        spilled = self._answered(list(spilled))
        self.accepted_ids.update(dict.fromkeys(spilled))
        self.spilled_ids.update(spilled)

    def not_taken(self, ids: Iterable[str]) -> None:
        self.not_taken_ids.update(self._answered(list(ids)))

    def unanswered(self, ids: Iterable[str]) -> None:
        self.unanswered_ids.update(self._answered(list(ids)))

    def close(self) -> None:
        """The run is over: whatever has no outcome is unanswered."""
        self.unanswered(list(self.pending_ids))

    # --- across processes (Locust workers -> master) ------------------------------------

    def chunks(self, size: int = 20_000) -> Iterator[dict[str, Any]]:
        """The ledger as messages of at most ``size`` ids each; :meth:`merge` takes them back."""
        self.close()
        yield {"sent_count": self.sent_count}
        for name, ids in (
            ("accepted", list(self.accepted_ids)),
            ("spilled", sorted(self.spilled_ids)),
            ("not_taken", sorted(self.not_taken_ids)),
            ("unanswered", sorted(self.unanswered_ids)),
        ):
            for start in range(0, len(ids), size):
                yield {name: ids[start : start + size]}

    def merge(self, chunk: dict[str, Any]) -> None:
        self.sent_count += int(chunk.get("sent_count", 0))
        self.accepted(chunk.get("accepted", []))
        self.accepted((), chunk.get("spilled", []))
        self.not_taken(chunk.get("not_taken", []))
        self.unanswered(chunk.get("unanswered", []))


@dataclass
class Report:
    sent: int
    accepted: int
    not_taken: int
    stored: int
    waiting: dict[str, int]
    lost_ids: list[str]
    unanswered: int
    # On the stream but not processed when the drain time ran out: the consumer is behind
    # (iterator age), not lost; in AWS these are processed unless they outlive MaximumRecordAge.
    backlog: int = 0
    # Spilled events the overflow queue's counts do not cover: lost, though no id can be named.
    missing_from_queue: int = 0
    unanswered_stored: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return len(self.lost_ids) + self.missing_from_queue

    def rows(self) -> list[tuple[str, int]]:
        return [
            ("sent", self.sent),
            ("accepted", self.accepted),
            ("not taken (client told; retry is the client's)", self.not_taken),
            ("no answer the client could read (cut off, or not per event)", self.unanswered),
            ("  of which found in the events table", self.unanswered_stored),
            ("in the events table", self.stored),
            *[(f"waiting: {place}", count) for place, count in self.waiting.items()],
            ("on the stream, not yet processed (backlog)", self.backlog),
            ("lost", self.lost),
        ]

    def render(self) -> str:
        width = max(len(name) for name, _ in self.rows())
        lines = ["Reconciliation:"] + [f"  {name:<{width}}  {value:>8}" for name, value in self.rows()]
        lines += [f"  note: {note}" for note in self.notes]
        if self.lost_ids:
            lines.append(f"  LOST, first ids: {', '.join(self.lost_ids[:10])}")
        if self.missing_from_queue:
            lines.append(f"  LOST: {self.missing_from_queue} spilled events are not in the overflow queue's counts")
        return "\n".join(lines)

    def write(self, directory: str) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        with (path / "reconciliation.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["figure", "count"])
            writer.writerows(self.rows())
        (path / "lost.json").write_text(json.dumps(self.lost_ids, indent=2) + "\n")


class TableCheck:
    """Which ids are in the events table: one client, 100 keys a call, UnprocessedKeys resubmitted."""

    def __init__(self, stack: StackInfo, sleep: Callable[[float], None] = time.sleep) -> None:
        self._dynamodb = stack.client("dynamodb")
        self._table = stack.outputs["EventsTableName"]
        self._sleep = sleep
        self.calls = 0

    def stored(self, ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        chunk: list[str] = []
        for event_id in ids:
            chunk.append(event_id)
            if len(chunk) == KEYS_PER_CALL:
                found |= self._get(chunk)
                chunk = []
        if chunk:
            found |= self._get(chunk)
        return found

    def _get(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        keys: list[dict[str, Any]] = [{"event_id": {"S": i}} for i in ids]
        attempt = 0
        while keys:
            self.calls += 1
            response = self._dynamodb.batch_get_item(
                RequestItems={self._table: {"Keys": keys, "ProjectionExpression": "event_id"}}
            )
            found.update(item["event_id"]["S"] for item in response["Responses"].get(self._table, []))
            keys = response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
            attempt += 1
            if keys:
                self._sleep(min(1.0, 0.05 * 2**attempt))
        return found


def queue_count(stack: StackInfo, url: str) -> int:
    """Messages in the queue (visible, in flight and delayed), without receiving any."""
    return count_queue(stack.client("sqs"), url)


def quarantine_url(stack: StackInfo) -> str | None:
    arn = stack.outputs.get("QuarantineArn")
    if not arn:
        return None
    return str(stack.client("sqs").get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"])


def failure_destination_ids(stack: StackInfo) -> set[str]:
    arn = stack.outputs.get("FailureDestinationArn", "")
    if arn.startswith("arn:aws:s3:::"):
        return failure_destination_event_ids(stack.client("s3"), arn.split(":::", 1)[1])
    return set()


def stream_ids(stack: StackInfo, wanted: set[str]) -> set[str]:
    """Which of ``wanted`` are on the stream (all shards, from the trim horizon)."""
    found: set[str] = set()
    for record in stream_records(stack.client("kinesis"), stack.outputs["StreamName"]):
        try:
            event_id = json.loads(record["data"])["event_id"]
        except (KeyError, ValueError, TypeError):
            continue
        if event_id in wanted:
            found.add(event_id)
            if len(found) == len(wanted):
                break
    return found


@dataclass
class DrainStatus:
    elapsed: float
    expected: int  # accepted onto the stream (not spilled)
    stored: int  # of those, known to be in the table
    done: bool


def drain(
    ledger: Ledger,
    check: TableCheck,
    timeout: float,
    poll: float = 2.0,
    tail: int = KEYS_PER_CALL,
    on_poll: Callable[[DrainStatus], None] | None = None,
    interrupted: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> set[str]:
    """Wait (up to ``timeout``) for the events accepted onto the stream to reach the table.

    Each poll checks only the newest ``tail`` ids still missing (one call): the stream is processed
    in order per shard, so while they are missing, a full pass would mostly find what the last one
    found. When they are all in, one pass over every missing id follows. Spilled events are not
    waited for: they wait in the overflow queue for the redrive. Returns the ids known stored."""
    started = clock()
    pending = [i for i in ledger.accepted_ids if i not in ledger.spilled_ids]
    expected = len(pending)
    stored: set[str] = set()
    while True:
        if interrupted():
            raise Interrupted
        newest = pending[-tail:]
        found = check.stored(newest)
        if len(found) == len(newest):
            stored |= check.stored(pending[:-tail]) | found
            pending = [i for i in pending if i not in stored]
        done = not pending
        if on_poll is not None:
            on_poll(DrainStatus(clock() - started, expected, expected - len(pending), done))
        if done or clock() - started >= timeout:
            return stored
        sleep(poll)


def reconcile(
    ledger: Ledger,
    stack: StackInfo,
    timeout: float = 120.0,
    poll: float = 2.0,
    on_poll: Callable[[DrainStatus], None] | None = None,
    interrupted: Callable[[], bool] = lambda: False,
) -> Report:
    """Drain (up to ``timeout``), then account for every event sent."""
    ledger.close()
    check = TableCheck(stack)
    drain(ledger, check, timeout, poll, on_poll=on_poll, interrupted=interrupted)
    if interrupted():
        raise Interrupted
    accepted = set(ledger.accepted_ids)
    # One pass over everything the table may hold: accepted (spilled ones too: a stream write that
    # timed out and was spilled may also have landed) and unanswered.
    stored = check.stored(list(ledger.accepted_ids) + sorted(ledger.unanswered_ids - accepted))
    notes: list[str] = []
    waiting: dict[str, int] = {}

    spilled_waiting = ledger.spilled_ids - stored
    in_queue = queue_count(stack, stack.outputs["OverflowQueueUrl"])
    waiting["overflow queue (the API's answer; counted, not received)"] = len(spilled_waiting)
    missing_from_queue = max(0, len(spilled_waiting) - in_queue)
    if in_queue > len(spilled_waiting):
        notes.append(f"the overflow queue holds {in_queue} messages, {in_queue - len(spilled_waiting)} not of this run")

    if interrupted():
        raise Interrupted
    unaccounted = accepted - stored - ledger.spilled_ids
    failed = failure_destination_ids(stack) & unaccounted if unaccounted else set()
    if "FailureDestinationArn" in stack.outputs:
        waiting["failure destination"] = len(failed)
    unaccounted -= failed
    url = quarantine_url(stack)
    if url is not None:
        quarantined = queue_count(stack, url)
        if quarantined:
            notes.append(f"the quarantine holds {quarantined} messages (poison records; load events are not poison)")

    if interrupted():
        raise Interrupted
    backlog = stream_ids(stack, unaccounted) if unaccounted else set()
    lost = sorted(unaccounted - backlog)
    unanswered = ledger.unanswered_ids - accepted - ledger.not_taken_ids
    return Report(
        sent=ledger.sent_count,
        accepted=len(accepted),
        not_taken=len(ledger.not_taken_ids - accepted),
        stored=len(stored & accepted),
        waiting=waiting,
        lost_ids=lost,
        unanswered=len(unanswered),
        backlog=len(backlog),
        missing_from_queue=missing_from_queue,
        unanswered_stored=len(unanswered & stored),
        notes=notes,
    )
