"""A DynamoDB stand-in for benchmarks: fixed latency, almost no CPU, every call counted.

The consumer benchmark (B3) wants the consumer's own cost per record: botocore building, signing,
sending and parsing each call, Powertools idempotency, parsing the envelope. moto answers
correctly but spends milliseconds of CPU per call, on the same two cores, so it hides the figure
being measured. This server answers the calls the consumer makes (``PutItem``,
``UpdateItem``, ``GetItem``, ``BatchExecuteStatement``, and the other batch writes B5 compares) with a success
after ``--latency-ms``, from one asyncio loop in its own process, and counts them.

A table named with ``--key TABLE=ATTRIBUTE`` (its partition key) keeps its items, so that a
delivered batch can be delivered again and cost what a duplicate costs: a write whose condition
starts with ``attribute_not_exists(<key>)`` fails for an item that exists (with the item, when
``ReturnValuesOnConditionCheckFailure`` is ``ALL_OLD``); one whose condition is
``attribute_exists(<key>)`` fails for one that does not; ``SET`` updates are applied; statements
are run as the local gateway runs them (``local.dynamodb.partiql``), so a repeated ``INSERT`` is
``DuplicateItem``. That is all it checks: Powertools' longer condition (an expired or abandoned
record may be taken over) is read as its first clause, which is right for the records a benchmark
completes within the expiry. Other tables check nothing. It is a yardstick, not an emulator; the
consumer's behaviour is tested against the local runtime.

    python -m load.standin --latency-ms 5 [--key events=event_id ...]   # prints its URL, then serves
    GET /__stats                              # {"PutItem": n, "UpdateItem": n, ...}
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
from collections import Counter
from typing import Any

from local.dynamodb.partiql import UnsupportedStatement, translate

_ANSWERS = {
    "PutItem": b"{}",
    "UpdateItem": b"{}",
    "GetItem": b"{}",
    "DeleteItem": b"{}",
    "BatchWriteItem": b'{"UnprocessedItems": {}}',
    "TransactWriteItems": b"{}",
}


_CONDITION = re.compile(r"^\s*(?P<test>attribute_not_exists|attribute_exists)\s*\(\s*(?P<ref>[#\w.\-]+)\s*\)")
_SET_CLAUSE = re.compile(r"^\s*(?P<name>#?[\w\-]+)\s*=\s*(?P<value>:[\w\-]+)\s*$")
_CONDITION_FAILED = "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"


class Tables:
    """The items of the tables named with --key, and the few conditions the consumer writes with."""

    def __init__(self, hash_keys: dict[str, str]) -> None:
        self.hash_keys = hash_keys
        self.items: dict[str, dict[str, dict[str, Any]]] = {table: {} for table in hash_keys}

    def keeps(self, table: str) -> bool:
        return table in self.hash_keys

    def _id(self, table: str, item_or_key: dict[str, Any]) -> str:
        return json.dumps(item_or_key.get(self.hash_keys[table]), sort_keys=True)

    def call(self, operation: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, answer) of one single-item call on a kept table."""
        table = params["TableName"]
        items = self.items[table]
        key = params.get("Key") or params.get("Item") or {}
        ident = self._id(table, key)
        existing = items.get(ident)
        if operation == "GetItem":
            return 200, ({"Item": existing} if existing is not None else {})
        if operation == "DeleteItem":
            items.pop(ident, None)
            return 200, {}
        found = _CONDITION.match(params.get("ConditionExpression", ""))
        if found is not None:
            ref = found.group("ref")
            if params.get("ExpressionAttributeNames", {}).get(ref, ref) == self.hash_keys[table]:
                wanted_absent = found.group("test") == "attribute_not_exists"
                if (existing is not None) == wanted_absent:
                    answer: dict[str, Any] = {"__type": _CONDITION_FAILED, "message": "The conditional request failed"}
                    if existing is not None and params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
                        answer["Item"] = existing
                    return 400, answer
        if operation == "PutItem":
            items[ident] = dict(params["Item"])
            return 200, {}
        item = items.setdefault(ident, dict(params["Key"]))
        expression = str(params.get("UpdateExpression", "")).strip()
        names = params.get("ExpressionAttributeNames", {})
        values = params.get("ExpressionAttributeValues", {})
        if expression[:4].upper() == "SET ":
            for clause in expression[4:].split(","):
                if setting := _SET_CLAUSE.match(clause):
                    item[names.get(setting.group("name"), setting.group("name"))] = values[setting.group("value")]
        return 200, {}

    def statement(self, statement: dict[str, Any]) -> dict[str, Any]:
        """One BatchExecuteStatement slot, as the local gateway answers it."""
        try:
            operation, params = translate(statement, lambda table: [self.hash_keys[table]])
        except (UnsupportedStatement, KeyError) as exc:
            return {"Error": {"Code": "ValidationError", "Message": str(exc)}}
        status, body = self.call(operation, params)
        if status == 200:
            return {}
        if operation == "PutItem":
            return {"Error": {"Code": "DuplicateItem", "Message": "Duplicate primary key exists in table"}}
        return {"Error": {"Code": "ConditionalCheckFailed", "Message": body["message"]}}


class StandIn:
    def __init__(self, latency_ms: float, hash_keys: dict[str, str] | None = None) -> None:
        self.latency = latency_ms / 1000
        self.calls: Counter[str] = Counter()
        self.tables = Tables(hash_keys or {})

    def answer(self, operation: str, request: bytes) -> tuple[str, bytes] | None:
        """(status line, body) of a DynamoDB call; None for an operation it does not answer."""
        if operation == "BatchExecuteStatement":
            # One answer per statement; the statements are counted as writes too.
            statements = json.loads(request or b"{}").get("Statements", [])
            self.calls["Statements"] += len(statements)
            slots = [self.tables.statement(s) if self.tables.keeps(self._table_of(s)) else {} for s in statements]
            return "200 OK", json.dumps({"Responses": slots}).encode()
        if operation in ("PutItem", "UpdateItem", "GetItem", "DeleteItem"):
            params = json.loads(request or b"{}")
            if self.tables.keeps(params.get("TableName", "")):
                status, body = self.tables.call(operation, params)
                return ("200 OK" if status == 200 else "400 Bad Request"), json.dumps(body).encode()
        answer = _ANSWERS.get(operation)
        return None if answer is None else ("200 OK", answer)

    @staticmethod
    def _table_of(statement: dict[str, Any]) -> str:
        found = re.match(r'^\s*(?:INSERT INTO|UPDATE)\s+"(?P<table>[^"]+)"', str(statement.get("Statement", "")))
        return found.group("table") if found else ""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                length = int(headers.get("content-length", "0"))
                request = await reader.readexactly(length) if length else b""
                if lines[0].startswith("GET /__stats"):
                    status, body = "200 OK", json.dumps(dict(self.calls)).encode()
                else:
                    operation = headers.get("x-amz-target", "").rpartition(".")[2]
                    answer = self.answer(operation, request)
                    if answer is None:
                        status = "400 Bad Request"
                        body = json.dumps(
                            {
                                "__type": "UnknownOperationException",
                                "message": f"stand-in does not answer {operation!r}",
                            }
                        ).encode()
                    else:
                        self.calls[operation] += 1
                        await asyncio.sleep(self.latency)
                        status, body = answer
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\n"
                    f"Content-Length: {len(body)}\r\nx-amzn-RequestId: standin\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _main(host: str, port: int, latency_ms: float, hash_keys: dict[str, str]) -> None:
    standin = StandIn(latency_ms, hash_keys)
    server = await asyncio.start_server(standin.serve, host, port)
    bound = server.sockets[0].getsockname()
    print(f"http://{bound[0]}:{bound[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="TABLE=ATTRIBUTE",
        help="keep this table's items (partition key ATTRIBUTE) and check its conditions; repeatable",
    )
    args = parser.parse_args(argv)
    hash_keys = {}
    for spec in args.key:
        table, sep, attribute = spec.partition("=")
        if not (sep and table and attribute):
            parser.error(f"--key wants TABLE=ATTRIBUTE, got {spec!r}")
        hash_keys[table] = attribute
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.host, args.port, args.latency_ms, hash_keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
