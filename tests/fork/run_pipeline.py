"""The fork guide's example, end to end on the local runtime, `make run`-style: run in a copy of the
repository with the guide applied (tests/e2e/test_fork_pipeline.py makes it).

Posts the fork's example events through the HTTP API (some of them twice, as a client retrying after
a lost answer), one event the API must refuse (a type the stream does not take), waits for the
consumer to drain, and reads the fork's sink, the fulfilment queue: every accepted event must be
there exactly once. Writes a ledger (JSON) and exits non-zero unless lost is 0 and nothing was handed
to the sink twice.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import urllib3

from local.cloudformation.deployer import local_client, local_credentials
from local.runtime import LocalRuntime

EVENTS = 120
REPOSTED = 15


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ledger", type=Path, required=True)
    args = parser.parse_args(argv)
    os.environ.update(local_credentials())
    from weir.domain import example_event

    runtime = LocalRuntime(port=0, api_port=0, stack_name="fork").start()
    try:
        http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=30))
        events = []
        for n in range(EVENTS):
            type_, payload = example_event(n)
            events.append(
                {
                    "event_id": f"fork-{n}-{uuid.uuid4().hex[:6]}",
                    "type": type_,
                    "occurred_at": "2026-12-04T12:00:00Z",
                    "partition_key": f"customer-{n % 8}",
                    "payload": payload,
                }
            )
        accepted: set[str] = set()
        statuses: dict[int, int] = {}

        def post(batch: list[dict[str, Any]]) -> dict[str, Any]:
            response = http.request("POST", f"{runtime.api_url}/events", body=json.dumps({"events": batch}).encode())
            statuses[response.status] = statuses.get(response.status, 0) + 1
            answer: dict[str, Any] = json.loads(response.data or b"{}")
            accepted.update(o["event_id"] for o in answer.get("events", []) if o["status"] in ("written", "spilled"))
            return answer

        for start in range(0, EVENTS, 20):
            post(events[start : start + 20])
        post(events[:REPOSTED])  # a client that retried after its answer was lost
        refused = post([{**events[0], "event_id": "fork-refused", "type": "order.lost"}])
        queue_url = runtime.stack.physical_ids["FulfilmentQueue"] if runtime.stack else ""
        sqs = local_client("sqs", runtime.environment()["AWS_ENDPOINT_URL"])
        handed: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            page = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in page.get("Messages", []):
                handed.append(json.loads(message["Body"])["event_id"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            if accepted <= set(handed) and runtime.idle():
                break
        time.sleep(3)  # anything handed twice would arrive now
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            handed.append(json.loads(message["Body"])["event_id"])
        ledger = {
            "sent": EVENTS,
            "posted_again": REPOSTED,
            "accepted": len(accepted),
            "refused_400": [e["field"] for e in refused.get("errors", [])],
            "handed_to_the_sink": len(set(handed)),
            "handed_twice": len(handed) - len(set(handed)),
            "lost": len(accepted - set(handed)),
            "http_status": {str(k): v for k, v in sorted(statuses.items())},
        }
    finally:
        runtime.stop()
    args.ledger.write_text(json.dumps(ledger, indent=2) + "\n")
    print("Fork ledger:")
    for key, value in ledger.items():
        print(f"  {key:<22} {value}")
    return 0 if ledger["lost"] == 0 and ledger["handed_twice"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
