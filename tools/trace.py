"""``make trace EVENT=<event_id> [STACK=name]``: where one event is, from the stack's own stores.

It reads and never moves: the events table (stored: when, where on the stream, its latency, the
aggregates window that counted it), the functions' log groups (the ingest's answer for the event,
the process consumer's quarantine or retries), the failure destination's objects and the queues'
counts (never a receive: a look would hide messages from their readers). On ``make up`` the same
calls go to the local endpoint, whose CloudWatch Logs the functions' output is fed into.

Exit status: 0 when the event was found, 3 when nothing knows it (an unknown id, or one older than
the logs' search window and not stored), 2 for a bad call.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tools.readback import failure_destination_event_ids, queue_count
from tools.stack import StackInfo, load_stack
from weir.texts import parse_moment

NOT_FOUND = 3
# How far back the logs are searched by default (the log groups keep LogRetentionDays).
SEARCH_DAYS = 14


@dataclass
class Finding:
    event_id: str
    item: dict[str, Any] | None = None  # the events table's item, plain values
    window: dict[str, Any] | None = None  # the aggregates item of the window that counted it
    answered: dict[str, Any] | None = None  # the ingest's "request answered" line that names it
    fate: str | None = None  # written, spilled or not_taken, as the API answered
    consumer_lines: list[dict[str, Any]] = field(default_factory=list)  # the process consumer's lines about it
    parked: dict[str, Any] | None = None  # the redrive's line that parked an item holding it (unrecoverable)
    in_failure_destination: bool = False
    queues: dict[str, int] = field(default_factory=dict)  # messages in each queue, counted

    @property
    def known(self) -> bool:
        return bool(self.item or self.answered or self.consumer_lines or self.parked or self.in_failure_destination)

    @property
    def quarantined(self) -> dict[str, Any] | None:
        return next(
            (line for line in self.consumer_lines if line.get("message", "").startswith("record quarantined")), None
        )


def find(stack: StackInfo, event_id: str, search_days: float = SEARCH_DAYS) -> Finding:
    finding = Finding(event_id)
    outputs = stack.outputs
    dynamodb = stack.client("dynamodb")
    got = dynamodb.get_item(
        TableName=outputs["EventsTableName"], Key={"event_id": {"S": event_id}}, ConsistentRead=True
    )
    if "Item" in got:
        finding.item = _plain(got["Item"])
        finding.window = _window(stack, finding.item)
    since = int((time.time() - search_days * 86_400) * 1000)
    logs = stack.client("logs")
    for line in _lines(logs, f"/aws/lambda/{stack.name}-ingest", event_id, since):
        if line.get("message") == "request answered":
            for fate in ("written", "spilled", "not_taken"):
                if event_id in line.get(f"events_{fate}", []):
                    finding.answered, finding.fate = line, fate
    finding.consumer_lines = [
        line
        for line in _lines(logs, f"/aws/lambda/{stack.name}-process", event_id, since)
        if line.get("event_id") == event_id
    ]
    finding.parked = next(
        (
            line
            for line in _lines(logs, f"/aws/lambda/{stack.name}-redrive", event_id, since)
            if line.get("message") == "item parked as unrecoverable" and event_id in line.get("event_ids", [])
        ),
        None,
    )
    if finding.item is None:
        arn = outputs.get("FailureDestinationArn", "")
        if arn.startswith("arn:aws:s3:::"):
            finding.in_failure_destination = event_id in failure_destination_event_ids(
                stack.client("s3"), arn.split(":::", 1)[1]
            )
        finding.queues = _queue_counts(stack)
    return finding


def _lines(logs: Any, group: str, event_id: str, since: int) -> Iterator[dict[str, Any]]:
    """The JSON lines of ``group`` that mention ``event_id`` (CloudWatch Logs' quoted-term filter)."""
    request: dict[str, Any] = {"logGroupName": group, "filterPattern": json.dumps(event_id), "startTime": since}
    try:
        while True:
            page = logs.filter_log_events(**request)
            for event in page.get("events", []):
                try:
                    line = json.loads(event["message"])
                except ValueError:
                    continue
                if isinstance(line, dict):
                    yield line
            if not page.get("nextToken"):
                return
            request["nextToken"] = page["nextToken"]
    except logs.exceptions.ResourceNotFoundException:
        return  # a function that never logged yet


def _window(stack: StackInfo, item: dict[str, Any]) -> dict[str, Any] | None:
    """The aggregates item of the tumbling window the event's stored_at falls in."""
    function = stack.outputs.get("AggregateFunctionName")
    table = stack.outputs.get("AggregatesTableName")
    if not function or not table or "stored_at" not in item:
        return None
    mappings = stack.client("lambda").list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    width = max((int(m.get("TumblingWindowInSeconds", 0)) for m in mappings), default=0)
    if width <= 0:
        return None
    stored = parse_moment(str(item["stored_at"])).timestamp()
    start = datetime.fromtimestamp(stored // width * width, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    key = {"window_start": {"S": start}, "type": {"S": str(item.get("type", ""))}}
    got = stack.client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True)
    return _plain(got["Item"]) if "Item" in got else {"window_start": start, "count": None}


def _queue_counts(stack: StackInfo) -> dict[str, int]:
    sqs = stack.client("sqs")
    urls = {
        "overflow queue": stack.outputs.get("OverflowQueueUrl"),
        "unrecoverable queue": stack.outputs.get("UnrecoverableQueueUrl"),
    }
    arn = stack.outputs.get("QuarantineArn")
    if arn:
        urls["quarantine"] = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
    return {name: queue_count(sqs, url) for name, url in urls.items() if url}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in item.items()}


def render(finding: Finding) -> str:
    """What ``make trace`` prints: where the event is, and what happens to it next."""
    lines = [f"event {finding.event_id}"]
    item, answered = finding.item, finding.answered
    accepted_at = (item or {}).get("accepted_at") or (answered or {}).get("accepted_at")
    trace_id = (item or {}).get("trace_id") or (answered or {}).get("trace_id")
    if accepted_at:
        lines.append(f"  accepted   {accepted_at}" + (f" (the API answered: {finding.fate})" if finding.fate else ""))
    if trace_id:
        lines.append(
            f'  trace      {trace_id}  (X-Ray: annotation.ingest_trace_id = "{trace_id}" finds the consumers\')'
        )
    if item is not None:
        lines += _stored(item, finding.window)
    elif (quarantined := finding.quarantined) is not None:
        lines.append(
            f"  where      quarantine (the process consumer, sequence number {quarantined.get('sequence_number')})"
        )
        lines.append(f"  reason     {quarantined.get('reason')}")
        lines.append(
            '  next       make redrive EVENT=\'{"sources":["quarantine"]}\' puts it back unchanged: it is quarantined '
            "again until the consumer takes what it holds (docs/operations.md)"
        )
    elif finding.parked is not None:
        lines.append(
            f"  where      unrecoverable queue (the redrive parked the {finding.parked.get('source')} item holding it)"
        )
        lines.append(f"  reason     {finding.parked.get('reason')}")
        lines.append(
            "  next       nothing takes it again by itself: the message holds the item and its reason "
            "(docs/operations.md, Alarms: unrecoverable-not-empty)"
        )
    elif finding.in_failure_destination:
        lines.append("  where      failure destination (the mapping gave up on its batch)")
        lines.append("  next       the next redrive run puts it back on the stream (origin: redrive)")
    elif finding.fate == "spilled":
        waiting = finding.queues.get("overflow queue", 0)
        lines.append(f"  where      overflow queue ({waiting} messages waiting there; counted, not received)")
        lines.append("  next       the next redrive run puts it on the stream (origin: redrive), then it is stored")
    elif finding.fate == "not_taken":
        lines.append("  where      nowhere: the API answered 503 for it and the client was told to send it again")
    elif finding.fate == "written":
        lines.append("  where      on the stream, not stored yet (the consumer's backlog: see IteratorAge)")
    if item is None:
        failed = [line for line in finding.consumer_lines if line.get("message", "").startswith("record failed")]
        if failed:
            lines.append(
                f"  retries    {len(failed)} failed attempt(s) to store it; the last: {failed[-1].get('error')}"
            )
        parked = finding.queues.get("unrecoverable queue", 0)
        if parked and not finding.quarantined and finding.parked is None:
            lines.append(f"  note       {parked} item(s) wait in the unrecoverable queue; make redrive reports them")
    return "\n".join(lines)


def _stored(item: dict[str, Any], window: dict[str, Any] | None) -> list[str]:
    lines = [f"  where      events table (stored {item.get('stored_at')})"]
    if item.get("accepted_at") and item.get("stored_at"):
        latency = (parse_moment(str(item["stored_at"])) - parse_moment(str(item["accepted_at"]))).total_seconds() * 1000
        lines.append(f"  latency    {latency:,.0f} ms from the API to the table")
    if item.get("stream_shard_id"):
        place = f"{item['stream_shard_id']} sequence {item.get('stream_sequence_number')}"
        if item.get("stream_sub_sequence_number") is not None:
            place += f" (user record {item['stream_sub_sequence_number']} of an aggregate)"
        lines.append(f"  stream     {place}")
    if item.get("origin"):
        lines.append(f"  origin     {item['origin']} (put on the stream again; the first copy stored is kept)")
    if window is not None:
        count = window.get("count")
        said = f"count {count} for {item.get('type')}" if count is not None else "not committed yet"
        lines.append(f"  aggregates window {window['window_start']} ({said}; the window of its stored_at)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make trace", description=__doc__.split("\n\n")[0])
    parser.add_argument("--event", required=True, help="the event id")
    parser.add_argument("--stack", help="a deployed stack's name (default: the running make up)")
    parser.add_argument("--days", type=float, default=SEARCH_DAYS, help="how far back to search the logs")
    args = parser.parse_args(argv)
    if not args.event.strip():
        print("make trace: EVENT=<event_id> is empty", file=sys.stderr)
        return 2
    try:
        stack = load_stack(args.stack)
    except RuntimeError as exc:
        print(f"make trace: {exc}", file=sys.stderr)
        return 2
    finding = find(stack, args.event, args.days)
    if not finding.known:
        print(
            f"make trace: event {args.event} is unknown: not in the events table, not named by the ingest or the "
            f"process consumer in the last {args.days:g} days of logs, not in the failure destination",
            file=sys.stderr,
        )
        return NOT_FOUND
    print(render(finding))
    return 0


if __name__ == "__main__":
    sys.exit(main())
