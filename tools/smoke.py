"""``make smoke [STACK=name]``: is a stack working? A few events posted to ``POST /events`` (signed
with SigV4 against a deployed stack), then each one looked for in the events table until it is
there or the time is up. Prints JSON; exits 1 unless every event was accepted and stored.

Without STACK it checks the running ``make up`` (no signing: the local API takes unsigned requests).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

import urllib3

from tools.stack import load_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", default=None, help="a deployed stack's name; default: the running make up")
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the events table")
    args = parser.parse_args(argv)
    try:
        stack = load_stack(args.stack)
    except RuntimeError as exc:
        print(f"make smoke: {exc}", file=sys.stderr)
        return 2
    run = uuid.uuid4().hex[:8]
    events = [
        {
            "event_id": f"smoke-{run}-{n}",
            "type": "smoke.test",
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "payload": {"n": n},
        }
        for n in range(args.events)
    ]
    body = json.dumps({"events": events})
    url = f"{stack.api_url}/events"
    headers = {"Content-Type": "application/json"}
    if stack.endpoint_url is None:  # AWS: the API takes SigV4 only
        headers = stack.signer()("POST", url, body)
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=30))
    answer = http.request("POST", url, body=body.encode(), headers=headers)
    outcomes: list[dict[str, Any]] = json.loads(answer.data or b"{}").get("events", [])
    accepted = {o["event_id"] for o in outcomes if o.get("status") in {"written", "spilled"}}
    table = stack.outputs["EventsTableName"]
    dynamodb = stack.client("dynamodb")
    waiting = set(accepted)
    deadline = time.monotonic() + args.timeout
    while waiting and time.monotonic() < deadline:
        for event_id in sorted(waiting):
            if dynamodb.get_item(TableName=table, Key={"event_id": {"S": event_id}}, ConsistentRead=True).get("Item"):
                waiting.discard(event_id)
        if waiting:
            time.sleep(2)
    report = {
        "status": answer.status,
        "posted": len(events),
        "accepted": len(accepted),
        "stored": len(accepted) - len(waiting),
        "not_stored": sorted(waiting),
    }
    print(json.dumps(report, indent=2))
    return 0 if answer.status == 202 and len(accepted) == len(events) and not waiting else 1


if __name__ == "__main__":
    raise SystemExit(main())
