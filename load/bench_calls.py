"""B5: CPU per DynamoDB write in the consumer's own process, single calls against batch calls.

The figures behind docs/consumer.md's case for coalesced writes. Every call goes to load.standin
with no added latency (its own process, almost no CPU), so what is measured is botocore building,
signing (in Python, as in Lambda's runtime), sending and parsing. The baseline, measured in the
same run, is one conditional ``PutItem``; each case is reported per item and as a ratio to it.

    python -m load.bench_calls [--calls 500] [--json build/bench/b5.json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from load.bench_env import use_bench_environment

CONDITION = "attribute_not_exists(id)"


def _item(i: int) -> dict[str, Any]:
    return {
        "id": {"S": f"evt-{i:032d}"},
        "expiration": {"N": "1790000000"},
        "status": {"S": "COMPLETED"},
        "data": {"S": '{"event_id":"x","stored":true}'},
    }


def cases(client: Any) -> list[tuple[str, int, Callable[[], Any]]]:
    """(name, items per call, one call)."""

    def statements(count: int) -> list[dict[str, Any]]:
        return [
            {
                "Statement": "INSERT INTO \"t\" VALUE {'id': ?, 'expiration': ?, 'status': ?, 'data': ?}",
                "Parameters": list(_item(i).values()),
            }
            for i in range(count)
        ]

    return [
        (
            "PutItem with a condition (baseline)",
            1,
            lambda: client.put_item(TableName="t", Item=_item(1), ConditionExpression=CONDITION),
        ),
        (
            "UpdateItem, SET of three attributes",
            1,
            lambda: client.update_item(
                TableName="t",
                Key={"id": {"S": "x"}},
                UpdateExpression="SET #r = :r, #e = :e, #s = :s",
                ExpressionAttributeNames={"#r": "data", "#e": "expiration", "#s": "status"},
                ExpressionAttributeValues={":r": {"S": "{}"}, ":e": {"N": "1"}, ":s": {"S": "COMPLETED"}},
            ),
        ),
        ("BatchExecuteStatement, 25 INSERTs", 25, lambda: client.batch_execute_statement(Statements=statements(25))),
        (
            "BatchWriteItem, 25 puts",
            25,
            lambda: client.batch_write_item(
                RequestItems={"t": [{"PutRequest": {"Item": _item(i)}} for i in range(25)]}
            ),
        ),
        (
            "TransactWriteItems, 25 conditional puts",
            25,
            lambda: client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "t", "Item": _item(i), "ConditionExpression": CONDITION}} for i in range(25)
                ]
            ),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=500, help="single calls per case (batch cases make a 25th)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    use_bench_environment()
    import boto3
    from botocore.config import Config

    from load.bench_consumer import _standin

    rows: list[dict[str, Any]] = []
    print("B5 CPU per DynamoDB write, single calls against batch calls (load.standin, no added latency)")
    with _standin(0):
        client = boto3.session.Session().client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
        for name, per_call, call in cases(client):
            calls = max(20, args.calls // per_call)
            for _ in range(20):  # warm up the connection and botocore's caches
                call()
            started = time.process_time()
            for _ in range(calls):
                call()
            cpu_ms = 1000 * (time.process_time() - started) / calls
            rows.append(
                {
                    "case": name,
                    "items_per_call": per_call,
                    "cpu_ms_per_call": round(cpu_ms, 3),
                    "cpu_ms_per_item": round(cpu_ms / per_call, 3),
                }
            )
    baseline = rows[0]["cpu_ms_per_item"]
    for row in rows:
        row["ratio_to_baseline_per_item"] = round(row["cpu_ms_per_item"] / baseline, 3)
        print(
            f"  {row['case']:<40} {row['cpu_ms_per_call']:7.3f} ms/call  {row['cpu_ms_per_item']:6.3f} ms/item"
            f"  {row['ratio_to_baseline_per_item']:6.3f}x",
            flush=True,
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
