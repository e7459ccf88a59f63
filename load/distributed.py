"""Ledgers across Locust processes: each worker's ids reach the master, which reconciles once.

Locust's own worker-to-master messages carry them (``runner.send_message``/``register_message``):

* every few seconds a worker sends ``weir_progress`` (its counts) for the master's progress line;
* when the load ends, the master's shape stops every user, then sends ``weir_ledger_request``; each
  worker answers with its ledger in chunks (``weir_ledger``, at most 20,000 ids a message) and
  ``weir_ledger_done``; the shape ends the run once every worker is done (or ``LEDGER_WAIT_SECONDS``
  passed: the reconciliation then names the workers that never answered).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from load.progress import Counts
from load.reconcile import Ledger

log = logging.getLogger("weir.load")
LEDGER_WAIT_SECONDS = 120.0


@dataclass
class Collector:
    """The master's side: the merged ledger and each worker's latest counts."""

    ledger: Ledger
    progress: dict[str, Counts] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    expected: set[str] = field(default_factory=set)
    requested_at: float | None = None

    @property
    def missing(self) -> list[str]:
        """Workers that reported progress or were connected, and never sent their whole ledger."""
        return sorted(self.expected - self.done)

    def register(self, runner: Any) -> None:
        runner.register_message("weir_progress", self._on_progress)
        runner.register_message("weir_ledger", self._on_ledger)
        runner.register_message("weir_ledger_done", self._on_done)

    def _on_progress(self, environment: Any, msg: Any, **_: Any) -> None:
        self.progress[msg.node_id] = Counts(**msg.data)

    def _on_ledger(self, environment: Any, msg: Any, **_: Any) -> None:
        self.ledger.merge(msg.data)

    def _on_done(self, environment: Any, msg: Any, **_: Any) -> None:
        self.done.add(msg.node_id)

    def counts(self) -> Counts:
        total = Counts()
        for counts in self.progress.values():
            total = total + counts
        return total

    def collected(self, runner: Any) -> bool:
        """Ask the workers for their ledgers once their users have stopped; True when all answered."""
        self.expected |= {client.id for client in runner.clients.all} | set(self.progress)
        if self.requested_at is None:
            if runner.user_count:
                return False
            self.requested_at = time.monotonic()
            runner.send_message("weir_ledger_request")
            return False
        if not self.missing:
            return True
        if time.monotonic() - self.requested_at > LEDGER_WAIT_SECONDS:
            log.error("no ledger from workers %s after %.0f s", self.missing, LEDGER_WAIT_SECONDS)
            return True
        return False


def send_ledger(runner: Any, ledger: Ledger) -> None:
    """A worker's answer to ``weir_ledger_request``."""
    for chunk in ledger.chunks():
        runner.send_message("weir_ledger", chunk)
    runner.send_message("weir_ledger_done", {})


def counts_of(ledger: Ledger) -> dict[str, int]:
    return {
        "sent": ledger.sent_count,
        "accepted": len(ledger.accepted_ids),
        "spilled": len(ledger.spilled_ids),
        "not_taken": len(ledger.not_taken_ids),
    }
