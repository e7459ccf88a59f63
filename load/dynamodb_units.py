"""DynamoDB capacity units, counted from the calls a client makes and priced by DynamoDB's size rules.

Item size ("DynamoDB item sizes and formats", DynamoDB developer guide): the UTF-8 bytes of each
attribute name plus its value's size: a string its UTF-8 bytes, a number 1 byte per two significant
digits plus 1, a binary its raw bytes, a boolean or null 1 byte, a list or map 3 bytes plus its
elements' sizes plus 1 byte per element, a set the sum of its elements. Storage adds 100 bytes an item
for indexing (the same page).

Units ("DynamoDB read and write operations", the same guide): a write costs 1 write unit per started
1 KB of the larger of the item before and after it; a write whose condition fails costs what the
write would have; a strongly consistent read 1 read unit per started 4 KB (eventually consistent: half).
``BatchExecuteStatement`` costs each statement as its single call.

:class:`UnitCounter` hooks a boto3 DynamoDB client (botocore's ``before-parameter-build`` and ``after-call``
events, so the client's own calls are counted as they are made) and keeps the size of every item it
has seen written, so that a write over an existing item is priced at the larger size. It is a
yardstick for benchmarks and the capacity planner, not an emulator: it prices the calls the consumers
make (``PutItem``, ``UpdateItem`` with ``SET``/``ADD``, ``GetItem``, ``DeleteItem``, and
``BatchExecuteStatement`` ``INSERT``/``UPDATE``).
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

STORAGE_OVERHEAD_BYTES = 100
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


def value_bytes(value: dict[str, Any]) -> int:
    """The size of one DynamoDB attribute value (``{"S": ...}``, ``{"M": {...}}``, ...)."""
    [(kind, inner)] = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return number_bytes(str(inner))
    if kind == "B":
        return len(inner) if isinstance(inner, bytes) else math.ceil(len(str(inner)) * 3 / 4)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(value_bytes(element) + 1 for element in inner)
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_bytes(element) + 1 for name, element in inner.items())
    if kind == "SS":
        return sum(len(str(element).encode()) for element in inner)
    if kind == "NS":
        return sum(number_bytes(str(element)) for element in inner)
    if kind == "BS":
        return sum(value_bytes({"B": element}) for element in inner)
    raise ValueError(f"not a DynamoDB attribute value: {value!r}")


def number_bytes(number: str) -> int:
    digits = Decimal(number).as_tuple().digits
    significant = "".join(map(str, digits)).strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def item_bytes(item: dict[str, dict[str, Any]]) -> int:
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def write_units(bytes_: int) -> int:
    return max(1, math.ceil(bytes_ / WRITE_UNIT_BYTES))


def read_units(bytes_: int, consistent: bool) -> float:
    units = max(1, math.ceil(bytes_ / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


_SET = re.compile(r"^\s*(?P<name>#?[\w\-]+)\s*=\s*(?P<value>:[\w\-]+)\s*$")
_ADD = re.compile(r"^\s*(?P<name>#?[\w\-]+)\s+(?P<value>:[\w\-]+)\s*$")
_INSERT = re.compile(r'^\s*INSERT\s+INTO\s+"(?P<table>[^"]+)"\s+VALUE\s*\{(?P<names>.*)\}\s*$', re.S | re.I)
_UPDATE = re.compile(r'^\s*UPDATE\s+"(?P<table>[^"]+)"(?P<sets>.*?)\s+WHERE\s+(?P<where>.*)$', re.S | re.I)


class UnitCounter:
    """Write and read units of the calls made through the clients it is attached to, by table.
    ``keys`` names each table's key attributes (a put is addressed by them, later writes by ``Key``)."""

    def __init__(self, keys: Mapping[str, tuple[str, ...]]) -> None:
        self.keys = dict(keys)
        self.write_units: Counter[str] = Counter()
        self.read_units: dict[str, float] = {}
        self.calls: Counter[str] = Counter()
        self._sizes: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._pending = threading.local()

    def attach(self, client: Any) -> None:
        # the call's own parameters (before-call has the serialized request instead)
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def totals(self) -> tuple[float, float]:
        with self._lock:
            return float(sum(self.write_units.values())), float(sum(self.read_units.values()))

    # --- the hooks ----------------------------------------------------------------------------

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self._pending.call = (model.name, dict(params))

    def _after(self, model: Any, parsed: dict[str, Any], http_response: Any, **_: Any) -> None:
        operation, params = getattr(self._pending, "call", (model.name, {}))
        params = dict(params)
        succeeded = http_response.status_code < 300
        error = parsed.get("Error", {}).get("Code", "")
        # A call refused before it ran (throttled, validation) is not billed; a failed condition is.
        if not succeeded and error != "ConditionalCheckFailedException":
            return
        with self._lock:
            self.calls[operation] += 1
            if operation == "BatchExecuteStatement":
                answers: list[dict[str, Any]] = parsed.get("Responses", [])
                for statement, answer in zip(params.get("Statements", []), answers, strict=False):
                    self._statement(statement, answer)
            else:
                self._single(operation, params, succeeded)

    # --- pricing ------------------------------------------------------------------------------

    def _key(self, table: str, key: dict[str, Any]) -> tuple[str, str]:
        return table, repr(sorted(key.items()))

    def _single(self, operation: str, params: dict[str, Any], succeeded: bool) -> None:
        table = params.get("TableName", "")
        if operation == "GetItem":
            size = self._sizes.get(self._key(table, params["Key"]), 0)
            self.read_units[table] = self.read_units.get(table, 0.0) + read_units(
                size, bool(params.get("ConsistentRead"))
            )
        elif operation == "PutItem":
            item = params["Item"]
            self._write(table, self._item_key(table, item), item_bytes(item), replace=succeeded)
        elif operation == "UpdateItem":
            added = self._update_bytes(params)
            key = self._key(table, params["Key"])
            self._write(table, key, self._sizes.get(key, item_bytes(params["Key"])) + added, replace=succeeded)
        elif operation == "DeleteItem":
            key = self._key(table, params["Key"])
            self.write_units[table] += write_units(self._sizes.pop(key, 0) if succeeded else self._sizes.get(key, 0))

    def _item_key(self, table: str, item: dict[str, Any]) -> tuple[str, str]:
        names = self.keys.get(table) or tuple(item)
        return self._key(table, {name: item[name] for name in names if name in item})

    def _write(self, table: str, key: tuple[str, str], new: int, replace: bool) -> None:
        old = self._sizes.get(key, 0)
        self.write_units[table] += write_units(max(old, new))
        if replace:
            self._sizes[key] = new

    def _update_bytes(self, params: dict[str, Any]) -> int:
        values = params.get("ExpressionAttributeValues", {})
        names = params.get("ExpressionAttributeNames", {})
        added = 0
        for clause in re.split(r"\b(SET|ADD|REMOVE|DELETE)\b", str(params.get("UpdateExpression", ""))):
            for part in clause.split(","):
                found = _SET.match(part) or _ADD.match(part)
                if found is not None and found.group("value") in values:
                    name = names.get(found.group("name"), found.group("name"))
                    added += len(name.encode()) + value_bytes(values[found.group("value")])
        return added

    def _statement(self, statement: dict[str, Any], answer: dict[str, Any]) -> None:
        failed = "Error" in answer
        code = answer.get("Error", {}).get("Code", "")
        if failed and code not in ("DuplicateItem", "ConditionalCheckFailed"):
            return  # refused before it ran: not billed
        text = str(statement.get("Statement", ""))
        parameters = statement.get("Parameters", [])
        if inserted := _INSERT.match(text):
            names = re.findall(r"'((?:[^']|'')*)'\s*:\s*\?", inserted.group("names"))
            item = {name.replace("''", "'"): value for name, value in zip(names, parameters, strict=False)}
            table = inserted.group("table")
            self._write(table, self._item_key(table, item), item_bytes(item), replace=not failed)
        elif updated := _UPDATE.match(text):
            table = updated.group("table")
            sets = re.findall(r'SET\s+"([^"]+)"\s*=\s*\?', updated.group("sets"))
            values = parameters[: len(sets)]
            where = re.findall(r'"([^"]+)"\s*=\s*\?', updated.group("where"))
            key = self._key(table, dict(zip(where, parameters[len(sets) :], strict=False)))
            added = sum(len(n.encode()) + value_bytes(v) for n, v in zip(sets, values, strict=False))
            self._write(table, key, self._sizes.get(key, 0) + added, replace=not failed)
