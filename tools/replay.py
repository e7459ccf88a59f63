"""``make replay FROM=<ISO 8601> TO=<ISO 8601> [SOURCE=stream|archive] [DRY_RUN=1] [TYPE=a,b]
[PARTITION_KEY=k] [EVERY_EVENT=1] [RECOUNT=1] [STACK=name]``: a range of the stream (or of its archive)
through the pipeline again, and its ledger.

The work runs in the stack's replay function (``ReplayFunctionName``), on a deployed stack or on the
running ``make up``: a run that its deadline cuts answers ``complete: false`` and is invoked again with
the same request, which goes on from its place. Then, unless it was a dry run, the events it put back
are waited for in the events table, one by one, and the ledger ends in::

      read             N   records of the range read from the stream
      replayed         N   events put back on the stream
      stored_new       N   of those, now in the events table (they were not before)
      already_stored   N   events of the range the table held already (left alone, or put back
                           again with EVERY_EVENT=1 and stored nothing)

Exit status 0 when every event put back is in the table, 1 when some are not (after ``--timeout``) or
a run failed, 2 for a bad call.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from typing import Any

from tools.stack import StackInfo, load_stack
from weir.replay.stored import StoredEvents

# A run lasts up to RedriveTimeoutSeconds (at most 900 s): the call waits that long for its answer.
INVOKE_READ_TIMEOUT_SECONDS = 910
DRAIN_SECONDS = 120.0
MAX_RUNS = 1000


def request_of(args: argparse.Namespace) -> dict[str, Any]:
    request: dict[str, Any] = {"from": args.start, "to": args.end, "source": args.source, "report_ids": True}
    if args.dry_run:
        request["dry_run"] = True
    if args.types:
        request["types"] = [t for t in args.types.split(",") if t]
    if args.partition_key:
        request["partition_key"] = args.partition_key
    if args.every_event:
        request["every_event"] = True
    if args.recount:
        request["recount"] = True
    if args.max_records:
        request["max_records"] = args.max_records
    return request


def run_all(stack: StackInfo, request: dict[str, Any], say: Any = print) -> tuple[Counter[str], list[str], bool]:
    """Invoke the replay function until a run answers complete (or fails); the counts summed, the ids
    put back, and whether it completed."""
    lambda_ = stack.client("lambda", read_timeout=INVOKE_READ_TIMEOUT_SECONDS, attempts=1)
    totals: Counter[str] = Counter()
    ids: list[str] = []
    for run in range(1, MAX_RUNS + 1):
        answer = lambda_.invoke(FunctionName=stack.outputs["ReplayFunctionName"], Payload=json.dumps(request).encode())
        report = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError"):
            say(f"run {run} failed: {report.get('errorMessage') if isinstance(report, dict) else report}")
            return totals, ids, False
        totals.update(report.get("counts", {}))
        ids += report.get("event_ids", [])
        shards = report.get("shards", {})
        say(
            f"run {run}: {json.dumps(report.get('counts', {}))}, shards {shards.get('finished')}/{shards.get('total')}"
            + ("" if report["complete"] else f", stopped: {report.get('stopped')}")
        )
        for note in report.get("notes", []):
            say(f"note: {note}")
        if report["complete"] or request.get("dry_run"):
            return totals, ids, bool(report["complete"])
        if report.get("stopped") == "lease":
            say(f"another replay holds the lease ({report.get('lease_holder')}); waiting for it")
            time.sleep(5)
    return totals, ids, False


def stored(stack: StackInfo, event_ids: list[str]) -> set[str]:
    """Which of ``event_ids`` the events table holds: the replay function's own check (BatchGetItem)."""
    return StoredEvents(stack.client("dynamodb"), stack.outputs["EventsTableName"]).which(event_ids)


def drain(stack: StackInfo, event_ids: list[str], timeout: float, poll: float = 2.0) -> set[str]:
    """Wait (up to ``timeout``) until every event put back is in the events table; those that are."""
    deadline = time.monotonic() + timeout
    found: set[str] = set()
    while True:
        found |= stored(stack, [i for i in event_ids if i not in found])
        if len(found) >= len(set(event_ids)) or time.monotonic() >= deadline:
            return found
        time.sleep(poll)


def ledger(totals: Counter[str], replayed_ids: list[str], stored_now: set[str], every_event: bool) -> list[str]:
    already = totals.get("already_stored", 0)
    # With EVERY_EVENT the events the table held were put back too: they are not new.
    new = len(stored_now) - (already if every_event else 0)
    rows = [
        ("read", totals.get("read", 0)),
        ("replayed", totals.get("replayed", 0)),
        ("stored_new", max(0, new)),
        ("already_stored", already),
    ]
    extra = [(k, totals[k]) for k in ("filtered_out", "unreadable", "would_replay") if totals.get(k)]
    missing = len(set(replayed_ids) - stored_now)
    if missing:
        extra.append(("not_stored_yet", missing))
    return [f"  {name:<16} {value}" for name, value in rows + extra]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make replay", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--from", dest="start", required=True, help="ISO 8601, with a time zone")
    parser.add_argument("--to", dest="end", required=True, help="ISO 8601, with a time zone (not included)")
    parser.add_argument("--source", choices=["stream", "archive"], default="stream")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--types", default="", help="comma-separated event types")
    parser.add_argument("--partition-key", default="")
    parser.add_argument("--every-event", action="store_true", help="put back events the table holds too")
    parser.add_argument("--recount", action="store_true", help="the aggregates count what is stored anew")
    parser.add_argument("--max-records", type=int, default=0, help="records read per run (tests, small steps)")
    parser.add_argument("--timeout", type=float, default=DRAIN_SECONDS, help="seconds to wait for the table")
    parser.add_argument("--stack", default=None, help="a deployed stack's name; default: the running make up")
    args = parser.parse_args(argv)
    try:
        stack = load_stack(args.stack)
    except RuntimeError as exc:
        print(f"make replay: {exc}", file=sys.stderr)
        return 2
    request = request_of(args)
    try:
        totals, ids, complete = run_all(stack, request)
    except stack.client("lambda").exceptions.ResourceNotFoundException:
        print("make replay: the stack has no replay function (ReplayFunctionName)", file=sys.stderr)
        return 2
    stored_now = set() if args.dry_run else drain(stack, ids, args.timeout)
    print("replay" + (" (dry run: nothing put back)" if args.dry_run else ""))
    print("\n".join(ledger(totals, ids, stored_now, args.every_event)))
    return 0 if complete and len(stored_now) >= len(set(ids)) else 1


if __name__ == "__main__":
    sys.exit(main())
