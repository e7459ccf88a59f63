"""One execution environment's side of the circuit breaker: failures counted, the shared state moved
with conditional writes, the sink probed while it is open."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from weir.breaker.state import BreakerSettings, State, Status
from weir.deadline import Deadline


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
        self._reading = False  # a thread is reading the shared state now

    # --- the shared state ----------------------------------------------------------

    def status(self, fresh: bool = False) -> Status:
        """The shared state, read at most once per ``cache_seconds`` by this execution environment:
        while one key thread reads it, the others go on with the state it had."""
        now = self._clock()
        with self._lock:
            cached = self._cached
            if not fresh and cached and (now - cached[0] < self.settings.cache_seconds or self._reading):
                return cached[1]
            self._reading = True
        try:
            status = self.store.read()
        finally:
            with self._lock:
                self._reading = False
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
