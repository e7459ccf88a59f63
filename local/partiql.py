"""DynamoDB's ``BatchExecuteStatement`` for the two statement shapes Weir sends, on top of moto.

moto's PartiQL cannot run a parameterised ``INSERT ... VALUE {'a': ?}`` (moto 5.2.5 raises on the
parameter), so the gateway answers ``BatchExecuteStatement`` itself: each statement becomes the
single-item call with the same effect, sent to moto, and its outcome goes into that statement's
slot of the answer, as DynamoDB does (the batch is not a transaction; statements fail alone):

* ``INSERT INTO "T" VALUE {'a': ?, ...}`` -> ``PutItem`` with ``attribute_not_exists(<hash key>)``;
  an existing item is the statement error ``DuplicateItem``.
* ``UPDATE "T" SET "a" = ? [SET "b" = ? ...] WHERE "k" = ? [AND "k2" = ?]`` -> ``UpdateItem`` with
  ``attribute_exists(<hash key>)``; a missing item is ``ConditionalCheckFailed``.

Anything else is the statement error ``ValidationError``, naming what is not emulated. Faults
configured for ``PutItem`` / ``UpdateItem`` apply to each statement as they would to the single call.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

_INSERT = re.compile(r'^INSERT INTO "(?P<table>[^"]+)" VALUE \{(?P<attrs>.*)\}$', re.S)
_INSERT_ATTR = re.compile(r"\s*'(?P<name>(?:[^']|'')+)'\s*:\s*\?\s*(?:,|$)")
_UPDATE = re.compile(r'^UPDATE "(?P<table>[^"]+)"(?P<sets>(?: SET "[^"]+" = \?)+) WHERE (?P<where>.+)$', re.S)
_SET = re.compile(r' SET "(?P<name>[^"]+)" = \?')
_WHERE = re.compile(r'^"(?P<name>[^"]+)" = \?$')

# A single call's error code -> the code DynamoDB puts on a failed batch statement.
_STATEMENT_CODES = {
    "ConditionalCheckFailedException": "ConditionalCheckFailed",
    "ProvisionedThroughputExceededException": "ProvisionedThroughputExceeded",
    "ThrottlingException": "ThrottlingError",
    "RequestLimitExceeded": "RequestLimitExceeded",
    "ResourceNotFoundException": "ResourceNotFound",
    "ValidationException": "ValidationError",
    "TransactionConflictException": "TransactionConflict",
    "AccessDeniedException": "AccessDenied",
}

# (operation, params) -> (HTTP status, parsed JSON answer); the gateway sends it to moto.
SingleCall = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]
# (operation, params) -> (error code or None, latency in seconds) from the fault set.
FaultFor = Callable[[str, dict[str, Any]], tuple[str | None, float]]


class UnsupportedStatement(ValueError):
    pass


def translate(statement: dict[str, Any], hash_key: Callable[[str], str]) -> tuple[str, dict[str, Any]]:
    """The single-item call with the same effect as one batch statement."""
    text = str(statement.get("Statement", "")).strip()
    values = list(statement.get("Parameters") or [])
    if found := _INSERT.match(text):
        table = found.group("table")
        names, position, attrs = [], 0, found.group("attrs")
        while position < len(attrs):
            part = _INSERT_ATTR.match(attrs, position)
            if part is None:
                raise UnsupportedStatement(f"not emulated: INSERT value {attrs[position:]!r}")
            names.append(part.group("name").replace("''", "'"))
            position = part.end()
        if len(names) != len(values):
            raise UnsupportedStatement(f"{len(names)} attributes but {len(values)} parameters")
        key = hash_key(table)
        params: dict[str, Any] = {
            "TableName": table,
            "Item": dict(zip(names, values, strict=True)),
            "ConditionExpression": "attribute_not_exists(#k)",
            "ExpressionAttributeNames": {"#k": key},
        }
        if statement.get("ReturnValuesOnConditionCheckFailure"):
            params["ReturnValuesOnConditionCheckFailure"] = statement["ReturnValuesOnConditionCheckFailure"]
        return "PutItem", params
    if found := _UPDATE.match(text):
        table = found.group("table")
        sets = [m.group("name") for m in _SET.finditer(found.group("sets"))]
        wheres = []
        for clause in found.group("where").split(" AND "):
            part = _WHERE.match(clause.strip())
            if part is None:
                raise UnsupportedStatement(f"not emulated: WHERE clause {clause!r}")
            wheres.append(part.group("name"))
        if len(sets) + len(wheres) != len(values):
            raise UnsupportedStatement(f"{len(sets) + len(wheres)} placeholders but {len(values)} parameters")
        attribute_names = {f"#s{i}": name for i, name in enumerate(sets)}
        attribute_names["#k"] = hash_key(table)
        return "UpdateItem", {
            "TableName": table,
            "Key": dict(zip(wheres, values[len(sets) :], strict=True)),
            "UpdateExpression": "SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(sets))),
            "ConditionExpression": "attribute_exists(#k)",
            "ExpressionAttributeNames": attribute_names,
            "ExpressionAttributeValues": {f":s{i}": value for i, value in enumerate(values[: len(sets)])},
        }
    raise UnsupportedStatement(f"not emulated: {text[:80]!r}")


def batch_execute_statement(
    request: dict[str, Any],
    single: SingleCall,
    hash_key: Callable[[str], str],
    fault_for: FaultFor,
    each: Callable[[Callable[[dict[str, Any]], dict[str, Any]], list[dict[str, Any]]], Iterable[dict[str, Any]]] = map,
) -> tuple[int, dict[str, Any]]:
    """The batch's answer, one slot per statement in order. ``each`` runs the statements (the
    builtin ``map`` by default; the gateway runs them side by side, as they are independent: a
    batch is not a transaction, and DynamoDB promises no order among its statements)."""
    statements = request.get("Statements") or []
    if not 1 <= len(statements) <= 25:
        return 400, {
            "__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
            "message": f"Statements must hold 1 to 25 statements, got {len(statements)}",
        }

    def run(statement: dict[str, Any]) -> dict[str, Any]:
        try:
            operation, params = translate(statement, hash_key)
        except UnsupportedStatement as exc:
            return {"Error": {"Code": "ValidationError", "Message": str(exc)}}
        answer: dict[str, Any] = {"TableName": params["TableName"]}
        code, latency = fault_for(operation, params)
        if latency:
            time.sleep(latency)
        if code is not None:
            answer["Error"] = {"Code": _STATEMENT_CODES.get(code, code), "Message": "Injected fault"}
            return answer
        status, body = single(operation, params)
        if status >= 300:
            raw = str(body.get("__type", "InternalServerError")).rsplit("#", 1)[-1]
            error: dict[str, Any] = {"Code": _STATEMENT_CODES.get(raw, raw), "Message": body.get("message", "")}
            if operation == "PutItem" and raw == "ConditionalCheckFailedException":
                error["Code"] = "DuplicateItem"
                error["Message"] = "Duplicate primary key exists in table"
            elif "Item" in body:
                error["Item"] = body["Item"]
            answer["Error"] = error
        return answer

    return 200, {"Responses": list(each(run, statements))}


def encode(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer).encode()
