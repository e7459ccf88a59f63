"""Fault injection for the local AWS endpoint.

A fault is JSON, every field but ``service`` optional::

    {"service": "dynamodb", "operation": "PutItem", "error": "ProvisionedThroughputExceededException",
     "status": 400, "latency_ms": 0, "probability": 1.0, "duration_s": 30, "match": {"TableName": "..."}}

``error`` absent means latency only. Weir adds three fields:

* ``per_entry`` (PutRecords only): fail individual entries inside a 200 response, each with
  ``probability``, exactly as a throttled shard does, instead of failing the whole call;
* ``drop``: close the connection without an answer (a dropped connection);
* ``count``: fire at most this many times, then retire.

A fault may name an AWS FIS action instead (``{"fis_action": "aws:kinesis:stream-expired-iterator-exception",
"probability": 0.5}``): :func:`expand` turns it into the faults that reproduce it (:mod:`local.fis.experiments`),
so an experiment written here can be repeated in AWS with FIS.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from local.fis.experiments import fault_templates
from tools.fis import ExperimentError

SERVICES = frozenset(
    {"kinesis", "dynamodb", "sqs", "s3", "sns", "lambda", "cloudformation", "monitoring", "cloudwatch", "logs", "sts"}
)


class FaultError(ValueError):
    """A fault definition is invalid; the message names the field."""


@dataclass
class Fault:
    service: str
    operation: str | None = None
    error: str | None = None
    status: int = 400
    latency_ms: int = 0
    probability: float = 1.0
    duration_s: float | None = None
    match: dict[str, Any] = field(default_factory=dict)
    per_entry: bool = False
    drop: bool = False
    count: int | None = None
    message: str | None = None
    id: str = ""
    fired: int = 0
    created_at: float = 0.0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        if not isinstance(data, Mapping):
            raise FaultError("a fault must be a JSON object")
        if "fis_action" in data:
            raise FaultError("fis_action: stands for several faults; expand() it first")
        known = {f for f in cls.__dataclass_fields__ if f not in {"id", "fired", "created_at"}}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FaultError(f"unknown field(s): {', '.join(unknown)}")
        service = data.get("service")
        if not isinstance(service, str) or not service:
            raise FaultError("service: required, e.g. 'kinesis' or 'dynamodb'")
        service = service.lower()
        if service not in SERVICES:
            raise FaultError(f"service: unknown {service!r}; known: {', '.join(sorted(SERVICES))}")
        fault = cls(service=service)
        fault.operation = _opt_str(data, "operation")
        fault.error = _opt_str(data, "error")
        fault.message = _opt_str(data, "message")
        fault.status = _int(data, "status", 400, 400, 599)
        fault.latency_ms = _int(data, "latency_ms", 0, 0, 600_000)
        fault.probability = _float(data, "probability", 1.0, 0.0, 1.0)
        duration = data.get("duration_s")
        fault.duration_s = None if duration is None else _float(data, "duration_s", 0.0, 0.0, 86_400.0)
        count = data.get("count")
        fault.count = None if count is None else _int(data, "count", 1, 1, 10**9)
        match = data.get("match", {})
        if not isinstance(match, dict):
            raise FaultError("match: must be an object of request parameters, e.g. {'TableName': 'x'}")
        fault.match = match
        fault.per_entry = _bool(data, "per_entry")
        fault.drop = _bool(data, "drop")
        if fault.per_entry and (fault.error is None or fault.operation not in (None, "PutRecords")):
            raise FaultError("per_entry: needs an error and applies to PutRecords only")
        if fault.per_entry:
            fault.operation = "PutRecords"
        return fault

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def expired(self, now: float) -> bool:
        if self.count is not None and self.fired >= self.count:
            return True
        return self.duration_s is not None and now - self.created_at >= self.duration_s

    def applies_to(self, service: str, operation: str, params: Mapping[str, Any]) -> bool:
        if self.service != service and not (self.service in {"monitoring", "cloudwatch"} and service == "monitoring"):
            return False
        if self.operation is not None and self.operation != operation:
            return False
        return all(_matches(params.get(key), expected) for key, expected in self.match.items())


def expand(data: Any) -> list[dict[str, Any]]:
    """One fault, or the faults an ``fis_action`` stands for (one per operation the action fails;
    ``operation`` narrows them to one), each with the rest of the fields given."""
    if not isinstance(data, Mapping):
        raise FaultError("a fault must be a JSON object")
    if "fis_action" not in data:
        return [dict(data)]
    action = data["fis_action"]
    try:
        templates = fault_templates(str(action))
    except ExperimentError as exc:
        raise FaultError(f"fis_action: {exc}") from None
    rest = {k: v for k, v in data.items() if k != "fis_action"}
    if "operation" in rest:
        templates = [t for t in templates if t["operation"] == rest["operation"]]
        if not templates:
            raise FaultError(f"operation: {rest['operation']!r} is not one that {action} fails")
    return [{**t, **rest} for t in templates]


def parse(specs: Any) -> list[Fault]:
    """Every fault of a list (or one fault), expanded and checked; the first bad one is named by its
    index and none is returned."""
    items = specs if isinstance(specs, list) else [specs]
    faults: list[Fault] = []
    for index, item in enumerate(items):
        try:
            faults.extend(Fault.from_json(one) for one in expand(item))
        except FaultError as exc:
            raise FaultError(f"fault {index}: {exc}") from None
    return faults


def _matches(actual: Any, expected: Any) -> bool:
    """A match value equals the request's, or is contained in it (a stream name in a StreamARN)."""
    if actual == expected:
        return True
    return isinstance(actual, str) and isinstance(expected, str) and actual.endswith(expected)


def _opt_str(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise FaultError(f"{name}: must be a non-empty string")
    return value


def _int(data: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FaultError(f"{name}: must be an integer from {low} to {high}, got {value!r}")
    return value


def _float(data: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise FaultError(f"{name}: must be a number from {low} to {high}, got {value!r}")
    return float(value)


def _bool(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise FaultError(f"{name}: must be true or false")
    return value


def load_profile(path: str) -> list[dict[str, Any]]:
    """A fault profile: a JSON file holding a list of faults (or {"faults": [...]}), each checked."""
    import json

    with open(path, encoding="utf-8") as handle:
        try:
            document = json.load(handle)
        except json.JSONDecodeError as exc:
            raise FaultError(f"{path}: not JSON: {exc}") from None
    faults = document.get("faults") if isinstance(document, dict) else document
    if not isinstance(faults, list):
        raise FaultError(f"{path}: must hold a list of faults, or an object with a 'faults' list")
    try:
        parse(faults)
    except FaultError as exc:
        raise FaultError(f"{path}: {exc}") from None
    return [one for fault in faults for one in expand(fault)]


class FaultSet:
    """The active faults; thread-safe. The first matching fault that fires wins."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
        self._ids = itertools.count(1)
        self._rng = rng or random.Random()

    def add(self, data: Mapping[str, Any]) -> Fault:
        """One fault (not an ``fis_action``, which stands for several: :meth:`add_all`)."""
        return self._insert([Fault.from_json(data)])[0]

    def add_all(self, specs: Any) -> list[Fault]:
        """A list of faults, ``fis_action`` ones expanded: all of them, or none if one is bad."""
        return self._insert(parse(specs))

    def _insert(self, faults: list[Fault]) -> list[Fault]:
        with self._lock:
            for fault in faults:
                fault.id = f"f-{next(self._ids)}"
                fault.created_at = time.monotonic()
                self._faults[fault.id] = fault
        return faults

    def list(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            self._purge(now)
            return [f.to_json() for f in self._faults.values()]

    def remove(self, fault_id: str | None = None) -> int:
        with self._lock:
            if fault_id is None:
                removed = len(self._faults)
                self._faults.clear()
                return removed
            return 1 if self._faults.pop(fault_id, None) else 0

    def pick(self, service: str, operation: str, params: Mapping[str, Any]) -> Fault | None:
        """The fault to apply to this call, if any (a per-entry fault is returned unfired)."""
        now = time.monotonic()
        with self._lock:
            self._purge(now)
            for fault in self._faults.values():
                if not fault.applies_to(service, operation, params):
                    continue
                if fault.per_entry:
                    fault.fired += 1
                    return fault
                if self._rng.random() < fault.probability:
                    fault.fired += 1
                    return fault
        return None

    def entry_fails(self, fault: Fault) -> bool:
        with self._lock:
            return self._rng.random() < fault.probability

    def _purge(self, now: float) -> None:
        for fault_id in [f.id for f in self._faults.values() if f.expired(now)]:
            del self._faults[fault_id]
