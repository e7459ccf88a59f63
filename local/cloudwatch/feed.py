"""The functions' log files into the local CloudWatch, as Lambda sends a function's output to its log
group and CloudWatch extracts the EMF metrics in it: every new line of each file is put in the
function's log group (CloudWatch Logs), and every metric an EMF line declares is put (PutMetricData,
values as arrays) so that the dashboard's queries and ``make trace`` read the local stack the way
they read a deployed one. A thread feeds what the files gained every ``interval`` seconds."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.cloudwatch.emf import Datum, metrics_of

# PutLogEvents: at most 10,000 events and 1 MiB a call; PutMetricData: 1,000 metrics and 150 values each.
LOG_EVENTS_PER_CALL = 1_000
VALUES_PER_DATUM = 150
DATA_PER_CALL = 500
LOG_STREAM = "local"


@dataclass
class _Tail:
    path: Path
    group: str
    offset: int = 0


class LogFeed:
    """Feeds ``files`` (log group name -> the file a function writes) into ``logs`` and ``cloudwatch``."""

    def __init__(self, files: Mapping[str, Path], logs: Any, cloudwatch: Any, interval: float = 1.0) -> None:
        self._tails = [_Tail(path, group, path.stat().st_size if path.exists() else 0) for group, path in files.items()]
        self._logs = logs
        self._cloudwatch = cloudwatch
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        for tail in self._tails:
            self._create(tail.group)

    def start(self) -> LogFeed:
        self._thread = threading.Thread(target=self._run, name="log-feed", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.feed()  # what was written up to now

    def feed(self) -> int:
        """Put what the files gained since the last call; the number of lines put."""
        with self._lock:
            return sum(self._feed(tail) for tail in self._tails)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.feed()
            except Exception:  # noqa: BLE001 - the endpoint stopping under the feed; the next round says
                if self._stop.is_set():
                    return

    def _create(self, group: str) -> None:
        exists = self._logs.exceptions.ResourceAlreadyExistsException
        with contextlib.suppress(exists):
            self._logs.create_log_group(logGroupName=group)
        with contextlib.suppress(exists):
            self._logs.create_log_stream(logGroupName=group, logStreamName=LOG_STREAM)

    def _feed(self, tail: _Tail) -> int:
        if not tail.path.exists():
            return 0
        with tail.path.open("rb") as handle:
            handle.seek(tail.offset)
            chunk = handle.read()
        whole = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits for the next round
        if not whole:
            return 0
        tail.offset += len(whole)
        lines = [line for line in whole.decode("utf-8", errors="replace").splitlines() if line.strip()]
        now = int(time.time() * 1000)
        for start in range(0, len(lines), LOG_EVENTS_PER_CALL):
            events = [{"timestamp": now, "message": line} for line in lines[start : start + LOG_EVENTS_PER_CALL]]
            self._logs.put_log_events(logGroupName=tail.group, logStreamName=LOG_STREAM, logEvents=events)
        self._put_metrics([datum for line in lines for datum in metrics_of(line)])
        return len(lines)

    def _put_metrics(self, data: list[Datum]) -> None:
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for datum in data:
            for start in range(0, len(datum.values), VALUES_PER_DATUM):
                entry: dict[str, Any] = {
                    "MetricName": datum.name,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in datum.dimensions],
                    "Timestamp": datum.timestamp,
                    "Values": list(datum.values[start : start + VALUES_PER_DATUM]),
                }
                if datum.unit:
                    entry["Unit"] = datum.unit
                by_namespace.setdefault(datum.namespace, []).append(entry)
        for namespace, entries in by_namespace.items():
            for start in range(0, len(entries), DATA_PER_CALL):
                self._cloudwatch.put_metric_data(Namespace=namespace, MetricData=entries[start : start + DATA_PER_CALL])
