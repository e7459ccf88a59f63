"""A test function for the event source mapping emulator: each record's data says what to do.

``{"action": "ok" | "fail" | "raise", "sleep": seconds}``. "fail" reports the record in
``batchItemFailures``; "raise" fails the whole invocation. Every invocation is appended as one JSON
line to $SCRIPT_LOG (with the process id and start/end times), so tests can see what Lambda saw.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.time()
    records = event["Records"]
    actions = [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in records]
    delay = max((float(a.get("sleep", 0)) for a in actions), default=0.0)
    if delay:
        time.sleep(delay)
    raised = any(a.get("action") == "raise" for a in actions)
    failures = [
        r["kinesis"]["sequenceNumber"] for r, a in zip(records, actions, strict=True) if a.get("action") == "fail"
    ]
    line = {
        "pid": os.getpid(),
        "start": started,
        "end": time.time(),
        "sequence_numbers": [r["kinesis"]["sequenceNumber"] for r in records],
        "keys": [r["kinesis"]["partitionKey"] for r in records],
        "ids": [a.get("id") for a in actions],
        "raised": raised,
    }
    with open(os.environ["SCRIPT_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(line) + "\n")
    if raised:
        raise RuntimeError("scripted failure")
    return {"batchItemFailures": [{"itemIdentifier": s} for s in failures]}
