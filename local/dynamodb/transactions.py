"""DynamoDB transactions on dynalite, which has none: TransactWriteItems, TransactGetItems, ExecuteTransaction.

A transaction runs alone: it holds the gateway's table lock exclusively while every other DynamoDB call
holds it shared (:class:`TableLock`), which gives the isolation AWS documents ("Isolation levels for
DynamoDB transactions": serializable against single-item reads and writes). A write transaction first
checks every condition without changing anything, then applies every write:

* a condition is checked by a write that changes nothing, with the condition: the item written back as
  it is (PutItem) when it exists, a DeleteItem of its key when it does not. dynalite evaluates the
  expression, so every condition DynamoDB takes is taken here;
* when any fails, nothing is written and the answer is TransactionCanceledException with one
  CancellationReason per action, in order: ``ConditionalCheckFailed`` (with the item when
  ReturnValuesOnConditionCheckFailure is ALL_OLD) or ``None`` (recorded against AWS:
  tests/fixtures/aws-recorded/dynamodb-api.json);
* else each action is applied without its condition, through ``apply`` (the gateway's path that keeps
  the tables' change streams).

Also as AWS documents for TransactWriteItems: 1 to 100 actions, no two on one item (ValidationException),
a ClientRequestToken makes a repeated call within 10 minutes answer success without writing again, and the
same token with other actions is IdempotentParameterMismatchException. Not emulated: the 4 MB size limit
and TransactionConflictException with other transactions (they cannot overlap here).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from local.dynamodb.partiql import KeyNames, SingleCall, UnsupportedStatement, translate

TRANSACTIONS = frozenset({"TransactWriteItems", "TransactGetItems", "ExecuteTransaction"})
MAX_ACTIONS = 100
TOKEN_SECONDS = 600.0
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_ACTIONS = ("ConditionCheck", "Put", "Update", "Delete")
_CONDITION_FIELDS = {
    "ConditionExpression",
    "ReturnValuesOnConditionCheckFailure",
    "ExpressionAttributeNames",
    "ExpressionAttributeValues",
}


class TableLock:
    """Shared for single calls, exclusive for a transaction; a waiting transaction goes first."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._exclusive and not self._waiting)
            self._shared += 1
        try:
            yield
        finally:
            with self._condition:
                self._shared -= 1
                self._condition.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._condition:
            self._waiting += 1
            self._condition.wait_for(lambda: not self._exclusive and not self._shared)
            self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._condition:
                self._exclusive = False
                self._condition.notify_all()


def _error(code: str, message: str, **fields: Any) -> tuple[int, dict[str, Any]]:
    return 400, {"__type": _ERROR_PREFIX + code, "Message": message, **fields}


def _validation(message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"__type": "com.amazon.coral.validate#ValidationException", "message": message}


def table_name(name: str) -> str:
    """A TableName given as a table ARN, as a name (AWS takes either)."""
    return name.split(":table/", 1)[1] if ":table/" in name else name


class Transactions:
    def __init__(
        self, single: SingleCall, apply: SingleCall, key_names: KeyNames, tokens: dict[str, tuple[float, str]]
    ) -> None:
        self.single = single  # to the backend, unrecorded: the checks
        self.apply = apply  # through the change streams: the writes
        self.key_names = key_names
        self.tokens = tokens  # ClientRequestToken -> (when, a digest of what it wrote), kept across calls

    def _key_of(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self.key_names(table) if name in item}

    def _action(self, entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        kinds = [kind for kind in _ACTIONS if kind in entry]
        if len(kinds) != 1:
            raise ValueError("each TransactItem must hold exactly one of ConditionCheck, Put, Update, Delete")
        params = dict(entry[kinds[0]])
        params["TableName"] = table_name(str(params.get("TableName", "")))
        return kinds[0], params

    def _check(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """The action's condition, checked by a write that changes nothing: its CancellationReason."""
        if "ConditionExpression" not in params:
            return {"Code": "None"}
        table = params["TableName"]
        key = self._key_of(table, params["Item"]) if kind == "Put" else params["Key"]
        status, found = self.single("GetItem", {"TableName": table, "Key": key, "ConsistentRead": True})
        if status >= 300:
            raise LookupError(found.get("message", found.get("Message", "")))
        same: dict[str, Any] = {
            k: params[k] for k in ("ConditionExpression", "ExpressionAttributeNames") if k in params
        }
        if params.get("ExpressionAttributeValues"):
            same["ExpressionAttributeValues"] = params["ExpressionAttributeValues"]
        if "Item" in found:
            status, answer = self.single("PutItem", {"TableName": table, "Item": found["Item"], **same})
        else:
            status, answer = self.single("DeleteItem", {"TableName": table, "Key": key, **same})
        if status < 300:
            return {"Code": "None"}
        if str(answer.get("__type", "")).endswith("ConditionalCheckFailedException"):
            reason: dict[str, Any] = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
            if params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and "Item" in found:
                reason["Item"] = found["Item"]
            return reason
        raise LookupError(answer.get("message", answer.get("Message", "the condition could not be evaluated")))

    def write(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """TransactWriteItems (the caller holds the lock exclusively)."""
        entries = request.get("TransactItems") or []
        if not 1 <= len(entries) <= MAX_ACTIONS:
            return _validation(
                f"1 validation error detected: Value at 'transactItems' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_ACTIONS} and greater than or equal to 1"
            )
        token = request.get("ClientRequestToken")
        digest = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()
        now = time.monotonic()
        for expired in [t for t, seen in self.tokens.items() if now - seen[0] >= TOKEN_SECONDS]:
            del self.tokens[expired]
        if isinstance(token, str) and token in self.tokens:
            if self.tokens[token][1] != digest:
                return _error(
                    "IdempotentParameterMismatchException",
                    "Request token has already been used with different parameters in the last 10 minutes",
                )
            return 200, {}
        try:
            actions = [self._action(entry) for entry in entries]
            items = [
                json.dumps([p["TableName"], self._key_of(p["TableName"], p["Item"]) if k == "Put" else p["Key"]])
                for k, p in actions
            ]
        except (ValueError, KeyError, LookupError) as exc:
            return _validation(str(exc))
        if len(set(items)) != len(items):
            return _validation("Transaction request cannot include multiple operations on one item")
        try:
            reasons = [self._check(kind, params) for kind, params in actions]
        except LookupError as exc:
            return _validation(str(exc))
        if any(reason["Code"] != "None" for reason in reasons):
            codes = ", ".join(reason["Code"] for reason in reasons)
            return _error(
                "TransactionCanceledException",
                f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                CancellationReasons=reasons,
            )
        for kind, params in actions:
            if kind == "ConditionCheck":
                continue
            status, answer = self.apply(f"{kind}Item", _without_condition(params))
            if status >= 300:  # checked above, so the backend itself failed: say so, do not hide it
                return status, answer
        if isinstance(token, str):
            self.tokens[token] = (now, digest)
        return 200, {}

    def get(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """TransactGetItems (the caller holds the lock exclusively)."""
        entries = request.get("TransactItems") or []
        if not 1 <= len(entries) <= MAX_ACTIONS:
            return _validation(f"TransactItems must hold 1 to {MAX_ACTIONS} items, got {len(entries)}")
        responses = []
        for entry in entries:
            params = dict(entry.get("Get") or {})
            params["TableName"] = table_name(str(params.get("TableName", "")))
            status, answer = self.single("GetItem", params | {"ConsistentRead": True})
            if status >= 300:
                return status, answer
            responses.append({"Item": answer["Item"]} if "Item" in answer else {})
        return 200, {"Responses": responses}

    def execute(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """ExecuteTransaction: PartiQL statements, all reads or all writes, as one transaction."""
        statements = request.get("TransactStatements") or []
        try:
            translated = [translate(statement, self.key_names) for statement in statements]
        except (UnsupportedStatement, LookupError) as exc:
            return _validation(str(exc))
        reads = [operation == "GetItem" for operation, _ in translated]
        if any(reads) and not all(reads):
            return _validation("A transaction holds only reads (SELECT by key) or only writes")
        if translated and all(reads):
            return self.get({"TransactItems": [{"Get": params} for _, params in translated]})
        kinds = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}
        if any(operation not in kinds for operation, _ in translated):
            return _validation("not emulated: a SELECT that is not by key in a transaction")
        status, answer = self.write(
            {"TransactItems": [{kinds[operation]: params} for operation, params in translated]}
            | ({"ClientRequestToken": request["ClientRequestToken"]} if "ClientRequestToken" in request else {})
        )
        if status >= 300:
            for (operation, _), reason in zip(translated, answer.get("CancellationReasons", []), strict=False):
                if operation == "PutItem" and reason["Code"] == "ConditionalCheckFailed":
                    reason["Code"], reason["Message"] = "DuplicateItem", "Duplicate primary key exists in table"
            if "CancellationReasons" in answer:
                codes = ", ".join(reason["Code"] for reason in answer["CancellationReasons"])
                answer["Message"] = (
                    f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]"
                )
            return status, answer
        return 200, {"Responses": []}


def _without_condition(params: dict[str, Any]) -> dict[str, Any]:
    """An action's write with its condition taken off (checked already), and the names and values only
    the condition used (DynamoDB refuses an unused one)."""
    expression = str(params.get("UpdateExpression", ""))
    written = {k: v for k, v in params.items() if k not in _CONDITION_FIELDS}
    for field in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        used = {n: v for n, v in params.get(field, {}).items() if re.search(re.escape(n) + r"(?!\w)", expression)}
        if used:
            written[field] = used
    return written
