"""Coalesced DynamoDB writes: the puts and updates key threads make at the same moment, in one call.

The consumer is CPU-bound in the SDK: one ``PutItem`` costs about ten times the CPU of one item
in a batch call (docs/consumer.md). :class:`CoalescingDynamoDB` stands in for the DynamoDB client
given to Powertools' ``DynamoDBPersistenceLayer`` and to the sink, so Powertools' idempotency code
runs unchanged. The writes that the key threads make at the same moment go out as one PartiQL
``BatchExecuteStatement`` (not a transaction: each statement succeeds or fails alone, at the same
write cost as the single call):

* a ``PutItem`` whose condition is ``attribute_not_exists(<partition key>)``, alone or first in a
  top-level ``OR``, becomes ``INSERT``: for a new key both succeed, and a new key is the only case
  the fast path decides;
* an unconditional ``UpdateItem`` of plain ``SET #a = :a, ...`` becomes ``UPDATE ... WHERE <key>``.

Any statement that fails (``DuplicateItem``, ``ConditionalCheckFailed`` — PartiQL's ``UPDATE``
does not create a missing item — throttling, anything) is sent again as the caller's original
single call, condition and all, from the caller's thread; so is every write of a batch call that
fails as a whole. One failure needs no second call: a put conditioned on exactly
``attribute_not_exists(<partition key>)`` (a first-copy-wins put, as Weir's sink makes) whose
``INSERT`` fails with ``DuplicateItem`` fails its condition too — "if the table already has an item
with the same primary key as the item being inserted, DuplicateItemException is returned" (DynamoDB
developer guide, "PartiQL insert statements for DynamoDB") — so it is answered with the
``ConditionalCheckFailedException`` the single call would have raised, and a duplicate costs one
write, not two. So every call ends exactly as the original call would have, and only the common case
is batched. Anything else — other operations, other conditions, two writes to one key in one
round — goes straight to the client.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

MAX_STATEMENTS = 25

_NOT_EXISTS = re.compile(r"^\s*attribute_not_exists\s*\(\s*(?P<ref>[#\w.\-]+)\s*\)\s*(?P<rest>$|OR\s)", re.I)
_SET_CLAUSE = re.compile(r"^\s*(?P<name>#?[\w\-]+)\s*=\s*(?P<value>:[\w\-]+)\s*$")
_PUT_KEYS = {
    "TableName",
    "Item",
    "ConditionExpression",
    "ExpressionAttributeNames",
    "ExpressionAttributeValues",
    "ReturnValuesOnConditionCheckFailure",
}
_UPDATE_KEYS = {"TableName", "Key", "UpdateExpression", "ExpressionAttributeNames", "ExpressionAttributeValues"}


class _Write:
    """One caller's write, waiting for its round."""

    def __init__(self, operation: str, kwargs: dict[str, Any], statement: dict[str, Any], ident: tuple[Any, ...]):
        self.operation = operation
        self.kwargs = kwargs
        self.statement = statement
        self.ident = ident
        self.done = threading.Event()
        self.taken = False
        self.fallback = False
        # a DuplicateItem means exactly that the single call's condition fails (see the module's docstring)
        self.duplicate_fails_condition = False
        self.condition_failed = False


def _quote_identifier(name: str) -> str | None:
    """A table or attribute name as a PartiQL identifier; None for one that cannot be quoted."""
    return None if '"' in name else f'"{name}"'


def _quote_key(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


class CoalescingDynamoDB:
    """A DynamoDB client whose concurrent ``put_item``/``update_item`` calls share round trips.

    ``hash_keys`` maps each table whose writes may be coalesced to its partition key attribute.
    ``linger_seconds`` bounds how long a write waits for the rest of its round.
    """

    def __init__(self, client: Any, hash_keys: Mapping[str, str], linger_seconds: float = 0.005) -> None:
        self._client = client
        self._hash_keys = dict(hash_keys)
        self._linger = linger_seconds
        self._lock = threading.Lock()
        self._pending: list[_Write] = []
        self._parties = 1
        self._stats_lock = threading.Lock()
        self.stats: Counter[str] = Counter()

    @property
    def tables(self) -> dict[str, str]:
        """The tables whose writes may be coalesced, each with its partition key attribute."""
        return dict(self._hash_keys)

    def coalesce(self, table: str, key: str) -> None:
        """Coalesce writes to ``table`` too (``key``: its partition key attribute). Before any write."""
        with self._lock:
            self._hash_keys[table] = key

    def __getattr__(self, name: str) -> Any:
        # Everything not coalesced (get_item, delete_item, meta, exceptions, ...) is the client's.
        return getattr(self._client, name)

    # --- who is writing ----------------------------------------------------------------

    @contextmanager
    def running(self, count: int) -> Iterator[None]:
        """``count`` threads will write concurrently until they :meth:`finished`: a round is full
        when each of them has a write waiting."""
        with self._lock:
            self._parties = max(1, count)
        try:
            yield
        finally:
            with self._lock:
                self._parties = 1
                batch = self._take_all()
            if batch:
                self._send(batch)

    def finished(self) -> None:
        """A writing thread is done: the others no longer wait for it."""
        with self._lock:
            self._parties = max(1, self._parties - 1)
            batch = self._take_if_full()
        if batch:
            self._send(batch)

    # --- the client calls ------------------------------------------------------------------

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        write = self._as_insert(kwargs)
        return self._submit(write) if write else self._client.put_item(**kwargs)

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        write = self._as_update(kwargs)
        return self._submit(write) if write else self._client.update_item(**kwargs)

    def _target(self, kwargs: dict[str, Any], allowed: set[str]) -> tuple[str, str, str] | None:
        """(table, its partition key, the table quoted) for a call the fast path may take."""
        table = kwargs.get("TableName", "")
        key = self._hash_keys.get(table)
        quoted_table = _quote_identifier(table)
        if key is None or quoted_table is None or set(kwargs) - allowed:
            return None
        return table, key, quoted_table

    def _as_insert(self, kwargs: dict[str, Any]) -> _Write | None:
        target = self._target(kwargs, _PUT_KEYS)
        if target is None:
            return None
        table, key, quoted_table = target
        found = _NOT_EXISTS.match(kwargs.get("ConditionExpression", ""))
        if found is None:
            return None
        ref = found.group("ref")
        if kwargs.get("ExpressionAttributeNames", {}).get(ref, ref) != key:
            return None
        item: dict[str, Any] = kwargs["Item"]
        if key not in item:
            return None
        statement: dict[str, Any] = {
            "Statement": f"INSERT INTO {quoted_table} VALUE {{"
            + ", ".join(f"{_quote_key(name)}: ?" for name in item)
            + "}",
            "Parameters": list(item.values()),
        }
        write = _Write("put_item", kwargs, statement, (table, repr(item[key])))
        write.duplicate_fails_condition = (
            found.group("rest") == "" and "ReturnValuesOnConditionCheckFailure" not in kwargs
        )
        return write

    def _as_update(self, kwargs: dict[str, Any]) -> _Write | None:
        target = self._target(kwargs, _UPDATE_KEYS)
        if target is None:
            return None
        table, key, quoted_table = target
        expression = kwargs.get("UpdateExpression", "").strip()
        if expression[:4].upper() != "SET ":
            return None
        names = kwargs.get("ExpressionAttributeNames", {})
        values = kwargs.get("ExpressionAttributeValues", {})
        sets, parameters = [], []
        for clause in expression[4:].split(","):
            found = _SET_CLAUSE.match(clause)
            if found is None or found.group("value") not in values:
                return None
            path = _quote_identifier(names.get(found.group("name"), found.group("name")))
            if path is None:
                return None
            sets.append(f" SET {path} = ?")
            parameters.append(values[found.group("value")])
        where = []
        for name, value in kwargs["Key"].items():
            path = _quote_identifier(name)
            if path is None:
                return None
            where.append(f"{path} = ?")
            parameters.append(value)
        statement = {
            "Statement": f"UPDATE {quoted_table}{''.join(sets)} WHERE {' AND '.join(where)}",
            "Parameters": parameters,
        }
        return _Write("update_item", kwargs, statement, (table, repr(kwargs["Key"].get(key))))

    # --- rounds ------------------------------------------------------------------------------

    def _submit(self, write: _Write) -> dict[str, Any]:
        with self._lock:
            # One writer (a single hot key, ConsumerKeyConcurrency=1): a batch of one statement would
            # only add a call when its condition fails. Two writes to one item never share a batch.
            alone = self._parties == 1 and not self._pending
            direct = alone or any(other.ident == write.ident for other in self._pending)
            batch = None
            if not direct:
                self._pending.append(write)
                batch = self._take_if_full()
        if direct:
            self._count("direct")
            return self._single(write)
        if batch:
            self._send(batch)
        if not write.done.wait(self._linger):
            with self._lock:
                batch = None if write.taken else self._take_all()
            if batch:
                self._send(batch)
            write.done.wait()
        if write.condition_failed:
            self._count("condition_failed")
            raise self._client.exceptions.ConditionalCheckFailedException(
                {
                    # what DynamoDB answers the single call
                    "Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "PutItem",
            )
        if write.fallback:
            self._count("fallback")
            return self._single(write)
        return {}

    def _take_if_full(self) -> list[_Write] | None:
        if len(self._pending) >= min(MAX_STATEMENTS, self._parties):
            return self._take_all()
        return None

    def _take_all(self) -> list[_Write] | None:
        batch, self._pending = self._pending[:MAX_STATEMENTS], self._pending[MAX_STATEMENTS:]
        for write in batch:
            write.taken = True
        return batch or None

    def _send(self, batch: list[_Write]) -> None:
        self._count("batches")
        self._count("statements", len(batch))
        try:
            answer = self._client.batch_execute_statement(Statements=[w.statement for w in batch])
            responses = answer.get("Responses", [])
            if len(responses) != len(batch):
                raise RuntimeError(f"BatchExecuteStatement answered {len(responses)} of {len(batch)} statements")
            for write, response in zip(batch, responses, strict=True):
                error = response.get("Error")
                if error is None:
                    continue
                if error.get("Code") == "DuplicateItem" and write.duplicate_fails_condition:
                    write.condition_failed = True
                else:
                    write.fallback = True
        except Exception:  # noqa: BLE001 - the batch is only ever a shortcut: each write makes its own call
            self._count("batch_failed")
            for write in batch:
                write.fallback = True
        finally:
            for write in batch:
                write.done.set()

    def _count(self, name: str, by: int = 1) -> None:
        with self._stats_lock:  # threads update these at once; Counter's += is not atomic
            self.stats[name] += by

    def _single(self, write: _Write) -> dict[str, Any]:
        result: dict[str, Any] = getattr(self._client, write.operation)(**write.kwargs)
        return result
