"""A test function for a mapping on a DynamoDB table's stream: an item with a ``raise`` attribute
fails the invocation; in a tumbling window, the state counts the records. Every invocation is
appended as one JSON line to $SCRIPT_LOG."""

from __future__ import annotations

import json
import os
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    records = event["Records"]
    raised = any("raise" in r["dynamodb"].get("NewImage", {}) for r in records)
    with open(os.environ["SCRIPT_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"raised": raised, "event": event}) + "\n")
    if raised:
        raise RuntimeError("scripted failure")
    if "window" in event:
        state = event.get("state") or {}
        return {"state": {"records": int(state.get("records", 0)) + len(records)}, "batchItemFailures": []}
    return {"batchItemFailures": []}
