"""A test function for the event source mapping emulator: each record's data says what to do.

``{"action": "ok" | "fail" | "raise", "sleep": seconds}``. "fail" reports the record in
``batchItemFailures``; "raise" fails the whole invocation. ``{"respond": <any JSON>}`` makes the
function return exactly that value. The AWS-recorded scenarios use their recorded data as it was:
``{"should_fail": true}`` reports the record, ``{"raise_error": 1}`` raises, and data that is not
JSON (``hello``) is processed. $SCRIPT_RAISE=1 makes every invocation raise. Every invocation is
appended as one JSON line to $SCRIPT_LOG (with the process id, start/end times and the event), so
tests can see what Lambda saw.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any


def _action(record: dict[str, Any]) -> dict[str, Any]:
    try:
        action = json.loads(base64.b64decode(record["kinesis"]["data"]))
    except ValueError:
        return {}
    return action if isinstance(action, dict) else {}


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    started = time.time()
    records = event["Records"]
    actions = [_action(r) for r in records]
    delay = max((float(a.get("sleep", 0)) for a in actions), default=0.0)
    if delay:
        time.sleep(delay)
    raised = os.environ.get("SCRIPT_RAISE") == "1" or any(
        a.get("action") == "raise" or a.get("raise_error") for a in actions
    )
    failures = [
        r["kinesis"]["sequenceNumber"]
        for r, a in zip(records, actions, strict=True)
        if a.get("action") == "fail" or a.get("should_fail")
    ]
    line = {
        "pid": os.getpid(),
        "start": started,
        "end": time.time(),
        "sequence_numbers": [r["kinesis"]["sequenceNumber"] for r in records],
        "keys": [r["kinesis"]["partitionKey"] for r in records],
        "ids": [a.get("id") for a in actions],
        "raised": raised,
        "event": event,
    }
    with open(os.environ["SCRIPT_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(line) + "\n")
    if raised:
        raise RuntimeError("scripted failure")
    literal = [a["respond"] for a in actions if "respond" in a]
    if literal:
        return literal[0]
    return {"batchItemFailures": [{"itemIdentifier": s} for s in failures]}
