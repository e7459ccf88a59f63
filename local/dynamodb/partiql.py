"""DynamoDB's PartiQL, for the statements a single-item call can answer: the local runtime's one PartiQL.

dynalite has no PartiQL, so the gateway answers ``ExecuteStatement``, ``BatchExecuteStatement`` and
``ExecuteTransaction`` itself: each statement becomes the single-item call with the same effect
(:func:`translate`), sent to the backend, and its outcome goes where DynamoDB puts it. The statements:

* ``INSERT INTO T VALUE {'a': ?, 'b': 'text', 'c': 12}`` -> ``PutItem`` with
  ``attribute_not_exists(<hash key>)``; an existing item is the statement error ``DuplicateItem``.
* ``UPDATE T SET a = ?, b = 20 [SET c = ?] WHERE k = ? [AND k2 = ?]`` -> ``UpdateItem`` with
  ``attribute_exists(<hash key>)``; a missing item is ``ConditionalCheckFailed``.
* ``DELETE FROM T WHERE k = ? [AND k2 = ?]`` -> ``DeleteItem``.
* ``SELECT * FROM T WHERE k = ? [AND k2 = ?]`` -> ``GetItem``; any other ``SELECT * FROM T [WHERE a = ?
  AND b IS [NOT] MISSING ...]`` -> ``Scan`` with that filter.

Table and attribute names are bare words or double-quoted; values are ``?`` (the next of the
statement's ``Parameters``), single-quoted strings, numbers, ``TRUE``, ``FALSE`` and ``NULL``. Anything
else is the statement error ``ValidationError``, naming what is not emulated. Faults configured for
``PutItem`` / ``UpdateItem`` apply to each statement as they would to the single call.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:(?P<quoted>"(?:[^"]|"")*")|(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"""
    r"""|(?P<word>[A-Za-z_][\w.\-]*)|(?P<mark>[{}(),:=?*]))"""
)

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

# (operation, params) -> (HTTP status, parsed JSON answer); the gateway sends it to the backend.
SingleCall = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]
# (operation, params) -> (error code or None, latency in seconds) from the fault set.
FaultFor = Callable[[str, dict[str, Any]], tuple[str | None, float]]
# A table's key attribute names, hash key first.
KeyNames = Callable[[str], list[str]]


class UnsupportedStatement(ValueError):
    pass


@dataclass
class _Tokens:
    items: list[tuple[str, str]]  # (kind, text)
    position: int = 0

    @classmethod
    def of(cls, text: str) -> _Tokens:
        items, position = [], 0
        text = text.strip()
        while position < len(text):
            found = _TOKEN.match(text, position)
            if found is None or found.end() == position:
                raise UnsupportedStatement(f"not emulated: {text[position : position + 40]!r}")
            kind = found.lastgroup or ""
            items.append((kind, found.group(kind)))
            position = found.end()
        return cls(items)

    def peek(self) -> str:
        return self.items[self.position][1].upper() if self.position < len(self.items) else ""

    def take(self, *expected: str) -> tuple[str, str]:
        if self.position >= len(self.items):
            raise UnsupportedStatement(f"statement ends where {' or '.join(expected) or 'more'} is expected")
        kind, text = self.items[self.position]
        if expected and text.upper() not in expected:
            raise UnsupportedStatement(f"not emulated: {text!r} where {' or '.join(expected)} is expected")
        self.position += 1
        return kind, text

    def done(self) -> bool:
        return self.position >= len(self.items)


@dataclass
class _Values:
    parameters: list[dict[str, Any]]
    used: int = 0

    def read(self, tokens: _Tokens) -> dict[str, Any]:
        kind, text = tokens.take()
        if text == "?":
            if self.used >= len(self.parameters):
                raise UnsupportedStatement("more ? placeholders than Parameters")
            self.used += 1
            return self.parameters[self.used - 1]
        if kind == "string":
            return {"S": text[1:-1].replace("''", "'")}
        if kind == "number":
            return {"N": text}
        if text.upper() in ("TRUE", "FALSE"):
            return {"BOOL": text.upper() == "TRUE"}
        if text.upper() == "NULL":
            return {"NULL": True}
        raise UnsupportedStatement(f"not emulated: value {text!r}")


def _name(tokens: _Tokens) -> str:
    kind, text = tokens.take()
    if kind == "quoted":
        return text[1:-1].replace('""', '"')
    if kind != "word":
        raise UnsupportedStatement(f"not emulated: name {text!r}")
    return text


def _conditions(tokens: _Tokens, values: _Values) -> list[tuple[str, str, dict[str, Any] | None]]:
    """WHERE a = v AND b IS [NOT] MISSING ...: (name, '=' | 'MISSING' | 'NOT MISSING', value)."""
    found: list[tuple[str, str, dict[str, Any] | None]] = []
    while True:
        name = _name(tokens)
        if tokens.peek() == "IS":
            tokens.take("IS")
            negated = tokens.peek() == "NOT"
            if negated:
                tokens.take("NOT")
            tokens.take("MISSING")
            found.append((name, "NOT MISSING" if negated else "MISSING", None))
        else:
            tokens.take("=")
            found.append((name, "=", values.read(tokens)))
        if tokens.done():
            return found
        tokens.take("AND")


def _key(table: str, conditions: list[tuple[str, str, dict[str, Any] | None]], key_names: KeyNames) -> dict[str, Any]:
    """The item's key when the conditions are exactly the key's equalities; else UnsupportedStatement."""
    equal = {name: value for name, test, value in conditions if test == "="}
    keys = key_names(table)
    if len(conditions) != len(keys) or set(equal) != set(keys):
        raise UnsupportedStatement(f"not emulated: a WHERE other than the key of {table!r} ({' AND '.join(keys)})")
    return {name: equal[name] for name in keys}


def _exists(names: dict[str, str], hash_key: str, test: str) -> str:
    names["#k"] = hash_key
    return f"{test}(#k)"


def translate(statement: dict[str, Any], key_names: KeyNames) -> tuple[str, dict[str, Any]]:
    """The single-item call (or Scan) with the same effect as one statement."""
    tokens = _Tokens.of(str(statement.get("Statement", "")))
    values = _Values(list(statement.get("Parameters") or []))
    verb = tokens.take("INSERT", "UPDATE", "DELETE", "SELECT")[1].upper()
    names: dict[str, str] = {}
    params: dict[str, Any]
    if verb == "INSERT":
        tokens.take("INTO")
        table = _name(tokens)
        tokens.take("VALUE")
        tokens.take("{")
        item: dict[str, Any] = {}
        while tokens.peek() != "}":
            kind, text = tokens.take()
            if kind != "string":
                raise UnsupportedStatement(f"not emulated: attribute name {text!r} (write it as 'name')")
            tokens.take(":")
            item[text[1:-1].replace("''", "'")] = values.read(tokens)
            if tokens.peek() == ",":
                tokens.take(",")
        tokens.take("}")
        condition = _exists(names, key_names(table)[0], "attribute_not_exists")
        params = {"TableName": table, "Item": item, "ConditionExpression": condition}
        operation = "PutItem"
    elif verb == "UPDATE":
        table = _name(tokens)
        assignments: list[tuple[str, dict[str, Any]]] = []
        while tokens.peek() in ("SET", ","):
            tokens.take("SET", ",")
            name = _name(tokens)
            tokens.take("=")
            assignments.append((name, values.read(tokens)))
        if not assignments:
            raise UnsupportedStatement("not emulated: an UPDATE without SET")
        tokens.take("WHERE")
        key = _key(table, _conditions(tokens, values), key_names)
        names |= {f"#s{i}": name for i, (name, _) in enumerate(assignments)}
        params = {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(assignments))),
            "ConditionExpression": _exists(names, key_names(table)[0], "attribute_exists"),
            "ExpressionAttributeValues": {f":s{i}": value for i, (_, value) in enumerate(assignments)},
        }
        operation = "UpdateItem"
    elif verb == "DELETE":
        tokens.take("FROM")
        table = _name(tokens)
        tokens.take("WHERE")
        params = {"TableName": table, "Key": _key(table, _conditions(tokens, values), key_names)}
        operation = "DeleteItem"
    else:
        tokens.take("*")
        tokens.take("FROM")
        table = _name(tokens)
        conditions: list[tuple[str, str, dict[str, Any] | None]] = []
        if tokens.peek() == "WHERE":
            tokens.take("WHERE")
            conditions = _conditions(tokens, values)
        try:
            params, operation = {"TableName": table, "Key": _key(table, conditions, key_names)}, "GetItem"
        except UnsupportedStatement:
            params, operation = {"TableName": table} | _scan_filter(conditions), "Scan"
    if not tokens.done():
        raise UnsupportedStatement(f"not emulated: {' '.join(t for _, t in tokens.items[tokens.position :])!r}")
    if values.used != len(values.parameters):
        raise UnsupportedStatement(f"{values.used} placeholders but {len(values.parameters)} parameters")
    if names:
        params["ExpressionAttributeNames"] = names
    if statement.get("ReturnValuesOnConditionCheckFailure") and operation in ("PutItem", "UpdateItem", "DeleteItem"):
        params["ReturnValuesOnConditionCheckFailure"] = statement["ReturnValuesOnConditionCheckFailure"]
    return operation, params


def _scan_filter(conditions: list[tuple[str, str, dict[str, Any] | None]]) -> dict[str, Any]:
    if not conditions:
        return {}
    tests, names, values = [], {}, {}
    for i, (name, test, value) in enumerate(conditions):
        names[f"#f{i}"] = name
        if test == "=":
            values[f":f{i}"] = value
            tests.append(f"#f{i} = :f{i}")
        else:
            tests.append(f"{'attribute_exists' if test == 'NOT MISSING' else 'attribute_not_exists'}(#f{i})")
    found: dict[str, Any] = {"FilterExpression": " AND ".join(tests), "ExpressionAttributeNames": names}
    return found | ({"ExpressionAttributeValues": values} if values else {})


def statement_error(operation: str, status: int, body: dict[str, Any]) -> dict[str, Any] | None:
    """A statement's error as DynamoDB reports it in a batch (None when the call succeeded)."""
    if status < 300:
        return None
    raw = str(body.get("__type", "InternalServerError")).rsplit("#", 1)[-1]
    message = body.get("message", body.get("Message", ""))
    error: dict[str, Any] = {"Code": _STATEMENT_CODES.get(raw, raw), "Message": message}
    if operation == "PutItem" and raw == "ConditionalCheckFailedException":
        return {"Code": "DuplicateItem", "Message": "Duplicate primary key exists in table"}
    if "Item" in body:
        error["Item"] = body["Item"]
    return error


def validation_error(message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"__type": "com.amazon.coral.validate#ValidationException", "message": message}


def execute_statement(request: dict[str, Any], single: SingleCall, key_names: KeyNames) -> tuple[int, dict[str, Any]]:
    """ExecuteStatement: one statement, its items for a SELECT, an empty list for a write."""
    if "Parameters" in request and not request["Parameters"]:  # recorded against AWS, exactly
        return validation_error(
            "1 validation error detected: Value '[]' at 'parameters' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    try:
        operation, params = translate(request, key_names)
    except (UnsupportedStatement, LookupError) as exc:
        return validation_error(str(exc))
    status, answer = single(operation, params)
    if status >= 300:
        if operation == "PutItem" and str(answer.get("__type", "")).endswith("ConditionalCheckFailedException"):
            return 400, {
                "__type": "com.amazonaws.dynamodb.v20120810#DuplicateItemException",
                "message": "Duplicate primary key exists in table",
            }
        return status, answer
    if operation == "GetItem":
        return 200, {"Items": [answer["Item"]] if "Item" in answer else []}
    if operation == "Scan":
        return 200, {"Items": answer.get("Items", [])}
    return 200, {"Items": []}


def batch_execute_statement(
    request: dict[str, Any],
    single: SingleCall,
    key_names: KeyNames,
    fault_for: FaultFor,
    each: Callable[[Callable[[dict[str, Any]], dict[str, Any]], list[dict[str, Any]]], Iterable[dict[str, Any]]] = map,
) -> tuple[int, dict[str, Any]]:
    """The batch's answer, one slot per statement in order. ``each`` runs the statements (the
    builtin ``map`` by default; the gateway runs them side by side, as they are independent: a
    batch is not a transaction, and DynamoDB promises no order among its statements)."""
    statements = request.get("Statements") or []
    if not 1 <= len(statements) <= 25:
        return validation_error(f"Statements must hold 1 to 25 statements, got {len(statements)}")

    def run(statement: dict[str, Any]) -> dict[str, Any]:
        try:
            operation, params = translate(statement, key_names)
        except (UnsupportedStatement, LookupError) as exc:
            return {"Error": {"Code": "ValidationError", "Message": str(exc)}}
        answer: dict[str, Any] = {"TableName": params["TableName"]}
        code, latency = fault_for(operation, params)
        if latency:
            time.sleep(latency)
        if code is not None:
            answer["Error"] = {"Code": _STATEMENT_CODES.get(code, code), "Message": "Injected fault"}
            return answer
        status, body = single(operation, params)
        error = statement_error(operation, status, body)
        if error is not None:
            answer["Error"] = error
        elif operation == "GetItem" and "Item" in body:
            answer["Item"] = body["Item"]
        return answer

    return 200, {"Responses": list(each(run, statements))}


def encode(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer).encode()
