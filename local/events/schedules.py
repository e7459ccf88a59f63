"""The stack's schedules (SAM ``Schedule`` events: EventBridge rules), run as deployed.

Each ``ENABLED`` rule with a ``rate(N unit)`` expression invokes its target functions (with the rule's
``Input``) every N units, the first time one period after the runtime starts, as EventBridge
does. A ``DISABLED`` rule never fires; a ``cron(...)`` expression is reported and not run (none of
the template's defaults uses one). An invocation that fails is logged; the next period runs again.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.awslambda.functions import FunctionPool, ThrottledError

log = logging.getLogger("weir.schedules")

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def period_seconds(expression: str) -> float | None:
    """Seconds between runs of a ``rate(...)`` expression; None for ``cron(...)``."""
    if expression.startswith("cron("):
        return None
    match = _RATE.match(expression.strip())
    if not match:
        raise ValueError(f"not a schedule expression EventBridge takes: {expression!r}")
    count, unit = int(match[1]), match[2]
    if (count == 1) != (unit in ("minute", "hour", "day")):
        raise ValueError(f"EventBridge wants rate(1 minute) or rate(N minutes), not {expression!r}")
    return float(count * _UNIT_SECONDS[unit])


@dataclass
class Schedule:
    rule: str
    period: float
    pool: FunctionPool
    event: Any
    runs: int = 0
    next_at: float = 0.0  # time.monotonic() of the next run


class Scheduler:
    def __init__(self, rules: list[dict[str, Any]], pools_by_arn: Mapping[str, FunctionPool]) -> None:
        self.schedules: list[Schedule] = []
        self.not_run: dict[str, str] = {}
        for rule in rules:
            name = str(rule["LogicalId"])
            if rule.get("State", "ENABLED") != "ENABLED":
                continue
            period = period_seconds(str(rule.get("ScheduleExpression", "")))
            if period is None:
                self.not_run[name] = f"{rule.get('ScheduleExpression')}: cron expressions are not run locally"
                continue
            for target in rule.get("Targets", []):
                pool = pools_by_arn.get(str(target.get("Arn")))
                if pool is None:
                    self.not_run[name] = f"target {target.get('Arn')} is not a function of the stack"
                    continue
                event = json.loads(target["Input"]) if "Input" in target else {}
                self.schedules.append(Schedule(name, period, pool, event))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Scheduler:
        for schedule in self.schedules:
            thread = threading.Thread(target=self._run, args=(schedule,), name=f"schedule-{schedule.rule}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, schedule: Schedule) -> None:
        while True:
            schedule.next_at = time.monotonic() + schedule.period
            if self._stop.wait(schedule.period):
                return
            try:
                result = schedule.pool.invoke(schedule.event, wait=schedule.period)
            except ThrottledError:
                name = schedule.pool.function.name
                log.warning("schedule %s: %s is at its concurrency; skipped", schedule.rule, name)
                continue
            schedule.runs += 1
            if not result.ok:
                log.warning("schedule %s: %s failed: %s", schedule.rule, schedule.pool.function.name, result.payload)

    def of(self, pool: FunctionPool) -> Schedule | None:
        """The schedule that invokes ``pool``'s function, if any."""
        return next((s for s in self.schedules if s.pool is pool), None)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
