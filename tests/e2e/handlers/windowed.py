"""A test function for tumbling windows: it keeps the ids of the records it saw in the window's state
(``{"ids": [...]}``) and logs every invocation as one JSON line to $SCRIPT_LOG.

A record's data ``{"id": n, "action": ...}``: "raise_once" fails the invocation the first time it is
seen (a marker file in $SCRIPT_MARKERS remembers), "nostate_once" answers without a state the first
time, "big" pads the state past 1 MB.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any


def _first_time(name: str) -> bool:
    marker = Path(os.environ["SCRIPT_MARKERS"]) / name
    if marker.exists():
        return False
    marker.touch()
    return True


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    actions = [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]
    with open(os.environ["SCRIPT_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"ids": [a["id"] for a in actions], "event": event}) + "\n")
    state = dict(event.get("state") or {})
    ids = list(state.get("ids", []))
    for action in actions:
        if action.get("action") == "raise_once" and _first_time(f"raise-{action['id']}"):
            raise RuntimeError("scripted failure")
        if action.get("action") == "nostate_once" and _first_time(f"nostate-{action['id']}"):
            return {"batchItemFailures": []}
        ids.append(action["id"])
        if action.get("action") == "big":
            state["padding"] = "x" * (1024 * 1024 + 10)
    state["ids"] = ids
    return {"state": state, "batchItemFailures": []}
