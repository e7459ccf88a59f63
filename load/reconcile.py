"""Reconciliation: every event id sent is in the events table, or waiting where an operator sees it,
or it was refused to the client (not taken) — otherwise it is lost, and the load test fails."""

from __future__ import annotations

import base64
import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from load.stack import StackInfo
from local.readback import failure_destination_event_ids, peek_queue, stream_records


@dataclass
class Ledger:
    sent_ids: set[str] = field(default_factory=set)
    accepted_ids: set[str] = field(default_factory=set)
    not_taken_ids: set[str] = field(default_factory=set)

    def sent(self, ids: list[str]) -> None:
        self.sent_ids.update(ids)

    def accepted(self, ids: list[str]) -> None:
        self.accepted_ids.update(ids)

    def not_taken(self, ids: list[str]) -> None:
        self.not_taken_ids.update(ids)


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

    @property
    def lost(self) -> int:
        return len(self.lost_ids)

    def rows(self) -> list[tuple[str, int]]:
        return [
            ("sent", self.sent),
            ("accepted", self.accepted),
            ("not taken (client told; retry is the client's)", self.not_taken),
            ("no answer (request failed in transit)", self.unanswered),
            ("in the events table", self.stored),
            *[(f"waiting: {place}", count) for place, count in self.waiting.items()],
            ("on the stream, not yet processed (backlog)", self.backlog),
            ("lost", self.lost),
        ]

    def render(self) -> str:
        width = max(len(name) for name, _ in self.rows())
        lines = ["Reconciliation:"] + [f"  {name:<{width}}  {value:>8}" for name, value in self.rows()]
        if self.lost:
            lines.append(f"  LOST, first ids: {', '.join(self.lost_ids[:10])}")
        return "\n".join(lines)

    def write(self, directory: str) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        with (path / "reconciliation.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["figure", "count"])
            writer.writerows(self.rows())
        (path / "lost.json").write_text(json.dumps(self.lost_ids, indent=2) + "\n")


def stored_ids(stack: StackInfo, ids: set[str]) -> set[str]:
    """Which of ``ids`` are in the events table (BatchGetItem, resubmitting UnprocessedKeys)."""
    dynamodb = stack.client("dynamodb")
    table = stack.outputs["EventsTableName"]
    found: set[str] = set()
    pending = sorted(ids)
    while pending:
        chunk, pending = pending[:100], pending[100:]
        keys: list[dict[str, Any]] = [{"event_id": {"S": i}} for i in chunk]
        attempt = 0
        while keys:
            response = dynamodb.batch_get_item(RequestItems={table: {"Keys": keys, "ProjectionExpression": "event_id"}})
            found.update(item["event_id"]["S"] for item in response["Responses"].get(table, []))
            keys = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            attempt += 1
            if keys:
                time.sleep(min(1.0, 0.05 * 2**attempt))
    return found


def _queue_event_ids(stack: StackInfo, url: str, extract: Any) -> set[str]:
    ids: set[str] = set()
    for body in peek_queue(stack.client("sqs"), url):
        try:
            ids.add(extract(json.loads(body)))
        except (KeyError, ValueError, TypeError):
            continue
    return ids


def waiting_ids(stack: StackInfo) -> dict[str, set[str]]:
    places: dict[str, set[str]] = {}
    places["overflow queue"] = _queue_event_ids(
        stack, stack.outputs["OverflowQueueUrl"], lambda b: b["event"]["event_id"]
    )
    quarantine_arn = stack.outputs.get("QuarantineArn")
    if quarantine_arn:
        quarantine_url = stack.client("sqs").get_queue_url(QueueName=quarantine_arn.rsplit(":", 1)[-1])["QueueUrl"]
        places["quarantine"] = _queue_event_ids(
            stack, quarantine_url, lambda b: json.loads(base64.b64decode(b["record"]["data"]))["event_id"]
        )
    arn = stack.outputs.get("FailureDestinationArn", "")
    if arn.startswith("arn:aws:s3:::"):
        places["failure destination"] = failure_destination_event_ids(stack.client("s3"), arn.split(":::", 1)[1])
    return places


def stream_ids(stack: StackInfo) -> set[str]:
    """Every event id on the stream (all shards, from the trim horizon)."""
    ids: set[str] = set()
    for record in stream_records(stack.client("kinesis"), stack.outputs["StreamName"]):
        try:
            ids.add(json.loads(record["data"])["event_id"])
        except (KeyError, ValueError):
            continue
    return ids


def reconcile(ledger: Ledger, stack: StackInfo, timeout: float = 120.0, poll: float = 2.0) -> Report:
    """Wait (up to ``timeout``) for the accepted events to reach the table, then account for all."""
    deadline = time.monotonic() + timeout
    accepted = set(ledger.accepted_ids)
    stored: set[str] = set()
    while True:
        stored |= stored_ids(stack, accepted - stored)
        if stored >= accepted or time.monotonic() > deadline:
            break
        time.sleep(poll)
    waiting = waiting_ids(stack)
    everywhere_waiting = set().union(*waiting.values()) if waiting else set()
    unprocessed = accepted - stored - everywhere_waiting
    backlog = unprocessed & stream_ids(stack) if unprocessed else set()
    lost = sorted(unprocessed - backlog)
    unanswered = ledger.sent_ids - ledger.accepted_ids - ledger.not_taken_ids
    return Report(
        sent=len(ledger.sent_ids),
        accepted=len(accepted),
        not_taken=len(ledger.not_taken_ids - ledger.accepted_ids),
        stored=len(stored),
        waiting={place: len((ids & accepted) - stored) for place, ids in waiting.items()},
        lost_ids=lost,
        unanswered=len(unanswered),
        backlog=len(backlog),
    )
