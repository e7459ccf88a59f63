"""The breaker function's job: probe the sink while the breaker is open, keep the consumer's event
source mapping disabled while it is open, and take an operator's force.

It enables the mapping again only if it disabled it (``paused`` in the breaker's item): a mapping an
operator disabled by hand stays disabled. Disabling a mapping does not stop it at once (a suite
validated against AWS waits 60 s after it reports ``Disabled``): the consumer's own hold
(weir.breaker.circuit) covers the batches delivered meanwhile. Run every minute, and on demand
(``{"force": "open" | "closed" | "release", "reason": "..."}``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from weir.breaker.circuit import Breaker
from weir.breaker.state import State
from weir.observability import logger, metrics

FORCES = {"open": State.OPEN, "closed": State.CLOSED, "release": None}


class BreakerControl:
    def __init__(
        self,
        breaker: Breaker,
        lambda_client: Any,
        mapping_uuid: str,
        maximum_record_age: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.breaker = breaker
        self.lambda_client = lambda_client
        self.mapping_uuid = mapping_uuid
        self.maximum_record_age = maximum_record_age
        self._clock = clock

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        force = event.get("force")
        if force is not None:
            if force not in FORCES:
                raise ValueError(f"force must be one of {', '.join(FORCES)}, not {force!r}")
            self.breaker.force(FORCES[force], str(event.get("reason") or f"forced {force} by an operator"))
        status = self.breaker.try_probe()
        mapping = self.lambda_client.get_event_source_mapping(UUID=self.mapping_uuid)
        current = mapping.get("State")
        if status.state is State.OPEN:
            if current in ("Enabled", "Enabling", "Creating", "Updating"):
                self.lambda_client.update_event_source_mapping(UUID=self.mapping_uuid, Enabled=False)
                logger.warning("consumer mapping disabled: the breaker is open", extra={"reason": status.reason})
                current = "Disabling"
                status = self.breaker.mark_paused(True)
        elif status.paused:
            # enabled again only if the breaker disabled it: an operator's own disable is left alone
            if current in ("Disabled", "Disabling"):
                self.lambda_client.update_event_source_mapping(UUID=self.mapping_uuid, Enabled=True)
                logger.warning("consumer mapping enabled: the breaker is " + status.state.value)
                current = "Enabling"
            status = self.breaker.mark_paused(False)
        open_seconds = self._clock() - status.since if status.state is State.OPEN else 0.0
        metrics.add_metric(name="BreakerOpen", unit=MetricUnit.Count, value=1 if status.state is State.OPEN else 0)
        metrics.add_metric(name="BreakerOpenSeconds", unit=MetricUnit.Seconds, value=open_seconds)
        share = open_seconds / self.maximum_record_age
        metrics.add_metric(name="BreakerOpenShareOfRecordAge", unit=MetricUnit.NoUnit, value=share)
        return {
            "state": status.state.value,
            "forced": status.forced,
            "reason": status.reason,
            "open_seconds": round(open_seconds, 1),
            "mapping_state": current,
        }
