"""What DynamoDB answers and dynalite does not: the gateway fills the gaps Weir's code meets.

dynalite 4.0.0 (the local DynamoDB, decision 0008) has no ``UpdateTimeToLive`` (it answers
``UnknownOperationException``), always reports TTL ``DISABLED``, and ignores
``ReturnValuesOnConditionCheckFailure``. Here:

* ``UpdateTimeToLive`` / ``DescribeTimeToLive`` keep each table's TTL setting in the gateway, with
  DynamoDB's validation: the table must exist, the attribute name must be given, and enabling a
  table that already has TTL enabled is a ``ValidationException`` ("TimeToLive is already
  enabled"). Neither moto nor dynalite deletes expired items; nor does this.
* A conditional ``PutItem`` / ``UpdateItem`` / ``DeleteItem`` with
  ``ReturnValuesOnConditionCheckFailure: ALL_OLD`` that fails its condition gets the item as it
  is (a ``GetItem`` right after the failure, strongly consistent) in the error's ``Item``, as
  DynamoDB returns it. Powertools' idempotency reads the stored record from there. Unlike
  DynamoDB, the read is not atomic with the failed write; locally only a writer racing the same key
  within that moment could tell.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

# (operation, params) -> (HTTP status, parsed JSON answer), sent to dynalite.
SingleCall = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]

TTL_OPERATIONS = frozenset({"UpdateTimeToLive", "DescribeTimeToLive"})
CONDITIONAL_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"


def _error(code: str, message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"__type": f"{_ERROR_PREFIX}{code}", "message": message}


class DynaliteGaps:
    """The gateway's answers for what dynalite lacks; one per gateway."""

    def __init__(self) -> None:
        self._ttl: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def time_to_live(self, operation: str, params: dict[str, Any], single: SingleCall) -> tuple[int, dict[str, Any]]:
        table = params.get("TableName")
        if not isinstance(table, str) or not table:
            return _error("ValidationException", "1 validation error detected: TableName must not be null")
        status, described = single("DescribeTable", {"TableName": table})
        if status >= 300:
            return status, described
        if operation == "DescribeTimeToLive":
            with self._lock:
                setting = self._ttl.get(table)
            if setting is None or not setting["Enabled"]:
                return 200, {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
            return 200, {
                "TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": setting["AttributeName"]}
            }
        specification = params.get("TimeToLiveSpecification")
        if not isinstance(specification, dict) or not isinstance(specification.get("Enabled"), bool):
            return _error("ValidationException", "TimeToLiveSpecification.Enabled must be true or false")
        name = specification.get("AttributeName")
        if not isinstance(name, str) or not name:
            return _error("ValidationException", "TimeToLiveSpecification.AttributeName must not be empty")
        with self._lock:
            current = self._ttl.get(table)
            if specification["Enabled"] and current is not None and current["Enabled"]:
                return _error("ValidationException", "TimeToLive is already enabled")
            if not specification["Enabled"] and (current is None or not current["Enabled"]):
                return _error("ValidationException", "TimeToLive is already disabled")
            self._ttl[table] = {"Enabled": specification["Enabled"], "AttributeName": name}
        return 200, {"TimeToLiveSpecification": {"Enabled": specification["Enabled"], "AttributeName": name}}

    @staticmethod
    def wants_old_item(operation: str, params: dict[str, Any]) -> bool:
        return operation in CONDITIONAL_WRITES and params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"

    def add_old_item(
        self,
        operation: str,
        params: dict[str, Any],
        status: int,
        data: bytes,
        single: SingleCall,
        key_names: Callable[[str], list[str]],
    ) -> bytes:
        """The failed conditional write's error body, with ``Item`` as DynamoDB adds it."""
        if status != 400:
            return data
        try:
            answer = json.loads(data or b"{}")
        except ValueError:
            return data
        if not isinstance(answer, dict) or not str(answer.get("__type", "")).endswith(
            "ConditionalCheckFailedException"
        ):
            return data
        key = params.get("Key") if operation != "PutItem" else self._key_of_item(params, key_names)
        if not key:
            return data
        got_status, got = single("GetItem", {"TableName": params["TableName"], "Key": key, "ConsistentRead": True})
        if got_status == 200 and "Item" in got:
            answer["Item"] = got["Item"]
        return json.dumps(answer).encode()

    @staticmethod
    def _key_of_item(params: dict[str, Any], key_names: Callable[[str], list[str]]) -> dict[str, Any] | None:
        try:
            names = key_names(str(params.get("TableName")))
        except LookupError:
            return None
        item = params.get("Item") or {}
        if not all(name in item for name in names):
            return None
        return {name: item[name] for name in names}
