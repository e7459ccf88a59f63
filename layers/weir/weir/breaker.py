"""A circuit breaker between the consumer and its sink, shared by every execution environment.

When the sink fails for reasons that are not the records' (throttling, 5xx, timeouts) the consumer
should stop spending retries and Lambda time: each failed batch is one of the mapping's
``MaximumRetryAttempts``, and the last sends its records to the failure destination. The stream
itself can hold them instead, up to ``MaximumRecordAgeInSeconds``.

States (one item per consumer in the breaker table, so all execution environments agree):

* ``closed``: batches are processed. ``failure_threshold`` transient sink failures in a row open
  it: counted in each execution environment and, shared, across all of them (a count in the table
  that any success resets, and that lapses after ``failure_window_seconds``). The shared count
  matters: a failed batch's retries may each land in a different environment, so no single one
  would see enough failures in a row before the batch ran out of ``MaximumRetryAttempts``.
* ``open``: a batch that arrives is not processed and does not fail at once: the consumer probes the
  sink every ``probe_interval_seconds`` while its invocation has time (:meth:`Breaker.hold`). The
  breaker function disables the mapping while the breaker is open and probes on its schedule.
* ``half_open``: a probe succeeded after the breaker had been open at least ``open_seconds``: batches
  are processed again; the first success closes it, the first transient failure opens it again,
  and each reopening within ``flap_window_seconds`` doubles ``open_seconds`` (up to
  ``max_open_seconds``), so a sink that flaps is not hammered.

An operator may force it ``open`` or ``closed`` (``make breaker``): a forced state is kept until it
is released, whatever the probes and failures say.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from weir.deadline import Deadline


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerSettings:
    failure_threshold: int = 10
    probe_interval_seconds: float = 5.0
    open_seconds: float = 10.0  # at least this long open before a probe may close it
    max_open_seconds: float = 300.0
    flap_window_seconds: float = 600.0
    cache_seconds: float = 1.0  # how long an execution environment trusts the state it read
    # A shared run of failures lapses this long after its first failure (a sink failing now and
    # then is not an outage).
    failure_window_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {self.failure_threshold}")
        if not 0 < self.probe_interval_seconds <= 60:
            raise ValueError(f"probe_interval_seconds must be in (0, 60], got {self.probe_interval_seconds}")
        if not 0 <= self.open_seconds <= self.max_open_seconds:
            raise ValueError("need 0 <= open_seconds <= max_open_seconds")


@dataclass(frozen=True)
class Status:
    """The shared state. ``since``: when it entered the state (epoch seconds); ``hold``: how long it
    stays open before a probe may close it; ``forced``: set by an operator, kept until released."""

    state: State = State.CLOSED
    since: float = 0.0
    hold: float = 0.0
    opened: int = 0  # times opened within the flap window
    reason: str = ""
    forced: bool = False
    version: int = 0  # for conditional writes: a change only applies to the version it read
    # The breaker function disabled the consumer's mapping (and so may enable it again); a mapping an
    # operator disabled by hand is not the breaker's to enable.
    paused: bool = False

    def to_item(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "since": self.since,
            "hold": self.hold,
            "opened": self.opened,
            "reason": self.reason,
            "forced": self.forced,
            "version": self.version,
            "paused": self.paused,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> Status:
        if not item:
            return cls()
        return cls(
            State(item["state"]),
            float(item["since"]),
            float(item["hold"]),
            int(item["opened"]),
            str(item.get("reason", "")),
            bool(item.get("forced", False)),
            int(item["version"]),
            bool(item.get("paused", False)),
        )


class Store(Protocol):
    def read(self) -> Status: ...

    def add_failure(self, now: float, window_seconds: float) -> int:
        """Count one transient failure in the shared run; the run's length after it (a run older
        than ``window_seconds`` starts again at 1)."""

    def reset_failures(self) -> None:
        """A success ends the shared run."""

    def replace(self, expected: Status, new: Status) -> bool:
        """Write ``new`` if the stored status is still ``expected`` (same version); False if not."""
        ...


class Breaker:
    """One execution environment's side of the breaker. Thread-safe."""

    def __init__(
        self,
        store: Store,
        probe: Callable[[], bool],
        settings: BreakerSettings | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_change: Callable[[Status, Status], None] = lambda old, new: None,
    ) -> None:
        self.store = store
        self.probe = probe
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._sleep = sleep
        self._on_change = on_change
        self._lock = threading.Lock()
        self._failures = 0
        self._shared_run = False  # this environment added to the shared run since its last success
        self._cached: tuple[float, Status] | None = None

    # --- the shared state ----------------------------------------------------------

    def status(self, fresh: bool = False) -> Status:
        now = self._clock()
        with self._lock:
            if not fresh and self._cached and now - self._cached[0] < self.settings.cache_seconds:
                return self._cached[1]
        status = self.store.read()
        with self._lock:
            self._cached = (now, status)
        return status

    def _move(self, expected: Status, new: Status) -> bool:
        new = replace(new, version=expected.version + 1)
        if not self.store.replace(expected, new):
            self.status(fresh=True)
            return False
        with self._lock:
            self._cached = (self._clock(), new)
        self._on_change(expected, new)
        return True

    def open(self, reason: str, expected: Status | None = None) -> bool:
        current = expected or self.status(fresh=True)
        if current.state is State.OPEN or (current.forced and current.state is State.CLOSED):
            return False
        now = self._clock()
        recent = current.opened if now - current.since < self.settings.flap_window_seconds else 0
        hold = min(self.settings.max_open_seconds, self.settings.open_seconds * 2**recent)
        return self._move(current, Status(State.OPEN, now, hold, recent + 1, reason, paused=current.paused))

    def close(self, expected: Status | None = None) -> bool:
        current = expected or self.status(fresh=True)
        if current.state is State.CLOSED or current.forced:
            return False
        return self._move(current, replace(current, state=State.CLOSED, since=self._clock(), reason="closed"))

    def force(self, state: State | None, reason: str = "forced by an operator") -> Status:
        """Force ``state`` (OPEN or CLOSED), or release a forced state (None: closed, unforced)."""
        while True:
            current = self.status(fresh=True)
            if state is None:
                released = "released by an operator"
                new = Status(State.CLOSED, self._clock(), 0.0, 0, released, False, paused=current.paused)
            else:
                new = Status(state, self._clock(), current.hold, current.opened, reason, True, paused=current.paused)
            if self._move(current, new):
                return self.status()

    def mark_paused(self, paused: bool) -> Status:
        """Record that the breaker function disabled (True) or enabled again (False) the mapping."""
        while True:
            current = self.status(fresh=True)
            if current.paused == paused or self._move(current, replace(current, paused=paused)):
                return self.status()

    # --- what the consumer reports -------------------------------------------------

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            shared_run, self._shared_run = self._shared_run, False
        if shared_run:
            with contextlib.suppress(ClientError, BotoCoreError):  # else the run lapses after its window
                self.store.reset_failures()
        status = self.status()
        if status.state is State.HALF_OPEN and not status.forced:
            self.close(status)

    def record_failure(self, reason: str) -> None:
        """A transient sink failure (not the record's fault)."""
        with self._lock:
            self._failures += 1
            failures = self._failures
            self._shared_run = True
        status = self.status()
        if status.forced:
            return
        # If the table is unreachable too, this environment's own count still trips it.
        with contextlib.suppress(ClientError, BotoCoreError):
            failures = max(failures, self.store.add_failure(self._clock(), self.settings.failure_window_seconds))
        tripped = status.state is State.HALF_OPEN or failures >= self.settings.failure_threshold
        why = f"{failures} transient sink failures in a row; last: {reason}"
        if tripped and self.open(why, self.status(fresh=True)):
            with self._lock:
                self._failures = 0

    # --- probing -------------------------------------------------------------------

    def try_probe(self) -> Status:
        """Probe the sink if the breaker is open and has been long enough; a success moves it to
        half-open. Returns the status after."""
        status = self.status(fresh=True)
        if status.state is not State.OPEN or status.forced:
            return status
        if self._clock() - status.since < status.hold:
            return status
        if self.probe():
            self._move(status, replace(status, state=State.HALF_OPEN, since=self._clock(), reason="probe succeeded"))
        return self.status()

    def blocking(self) -> bool:
        """True while batches must not be processed (open, or forced open)."""
        return self.status().state is State.OPEN

    def hold(self, deadline: Deadline) -> bool:
        """While the breaker is open, probe every probe interval as long as ``deadline`` allows;
        True as soon as batches may be processed, False when the time ran out first."""
        while True:
            status = self.try_probe()
            if status.state is not State.OPEN:
                return True
            wait = self.settings.probe_interval_seconds
            if not deadline.allows(wait):
                return False
            self._sleep(wait)


# --- DynamoDB ------------------------------------------------------------------------------


class DynamoDBStore:
    """The breaker's status as one item (``id``) of a DynamoDB table; conditional writes by version."""

    def __init__(self, client: Any, table: str, breaker_id: str) -> None:
        self._client = client
        self._table = table
        self._key = {"id": {"S": breaker_id}}
        self._failures_key = {"id": {"S": f"{breaker_id}#failures"}}

    def add_failure(self, now: float, window_seconds: float) -> int:
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=self._failures_key,
                UpdateExpression="ADD #count :one",
                ConditionExpression="started >= :oldest",
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":oldest": {"N": repr(now - window_seconds)}},
                ReturnValues="UPDATED_NEW",
            )
            return int(answer["Attributes"]["count"]["N"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
        # No run, or one that lapsed: this failure starts one (a concurrent start may lose a count).
        self._client.put_item(
            TableName=self._table,
            Item={**self._failures_key, "count": {"N": "1"}, "started": {"N": repr(now)}},
        )
        return 1

    def reset_failures(self) -> None:
        self._client.delete_item(TableName=self._table, Key=self._failures_key)

    def read(self) -> Status:
        item = self._client.get_item(TableName=self._table, Key=self._key, ConsistentRead=True).get("Item")
        if not item:
            return Status()
        return Status.from_item({name: _plain(value) for name, value in item.items()})

    def replace(self, expected: Status, new: Status) -> bool:
        item = {**self._key, **{name: _typed(value) for name, value in new.to_item().items()}}
        try:
            if expected.version == 0:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(id) OR version = :v",
                    ExpressionAttributeValues={":v": {"N": "0"}},
                )
            else:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="version = :v",
                    ExpressionAttributeValues={":v": {"N": str(expected.version)}},
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _typed(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    return {"S": str(value)}


def _plain(value: dict[str, Any]) -> Any:
    if "BOOL" in value:
        return value["BOOL"]
    if "N" in value:
        number = value["N"]
        return float(number) if any(c in number for c in ".eE") else int(number)
    return value.get("S")


def write_probe(client: Any, table: str, key_name: str) -> Callable[[], bool]:
    """A probe of the sink's write path that writes nothing: a conditional put whose condition can
    never hold. A healthy table answers ConditionalCheckFailedException (the write path ran); a
    throttled or failing one answers its error."""
    probe_key = "__weir_breaker_probe__"

    def probe() -> bool:
        try:
            client.put_item(
                TableName=table,
                Item={key_name: {"S": probe_key}},
                ConditionExpression=f"attribute_exists({key_name}) AND attribute_not_exists({key_name})",
            )
        except ClientError as exc:
            return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
        except BotoCoreError:
            return False
        return True  # cannot happen with that condition; a written probe item still means a healthy sink

    return probe
