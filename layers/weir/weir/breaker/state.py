"""The breaker's shared state, one item per consumer in the breaker table, and its settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# The process consumer's item in the breaker table: the consumer and the breaker function share it.
CONSUMER_BREAKER_ID = "process"


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
