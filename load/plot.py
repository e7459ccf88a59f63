"""Samples over a load run, and the PNG plot of them: offered, accepted and processed records/s, and
the consumer's iterator age."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Sample:
    at: float
    sent: int
    accepted: int
    processed: int | None
    iterator_age_ms: int | None


@dataclass
class Timeline:
    samples: list[Sample] = field(default_factory=list)

    def add(self, sent: int, accepted: int, metrics_file: Path | None) -> None:
        processed = age = None
        if metrics_file is not None and metrics_file.exists():
            try:
                figures = json.loads(metrics_file.read_text())
                processed, age = int(figures["records_processed"]), int(figures["iterator_age_ms"])
            except (ValueError, KeyError):
                pass
        self.samples.append(Sample(time.monotonic(), sent, accepted, processed, age))

    def rates(self) -> dict[str, list[float]]:
        """Per interval: seconds since start, offered/s, accepted/s, processed/s, iterator age (s)."""
        out: dict[str, list[float]] = {"t": [], "offered": [], "accepted": [], "processed": [], "age": []}
        if len(self.samples) < 2:
            return out
        start = self.samples[0].at
        for before, after in zip(self.samples, self.samples[1:], strict=False):
            span = max(after.at - before.at, 1e-6)
            out["t"].append(after.at - start)
            out["offered"].append((after.sent - before.sent) / span)
            out["accepted"].append((after.accepted - before.accepted) / span)
            processed = (
                (after.processed - before.processed) / span
                if after.processed is not None and before.processed is not None
                else float("nan")
            )
            out["processed"].append(processed)
            out["age"].append(after.iterator_age_ms / 1000 if after.iterator_age_ms is not None else float("nan"))
        return out

    def plot(self, path: Path, title: str) -> bool:
        rates = self.rates()
        if not rates["t"]:
            return False
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, records = plt.subplots(figsize=(10, 5))
        records.plot(rates["t"], rates["offered"], label="offered records/s")
        records.plot(rates["t"], rates["accepted"], label="accepted records/s")
        records.plot(rates["t"], rates["processed"], label="processed records/s")
        records.set_xlabel("seconds")
        records.set_ylabel("records/s")
        age = records.twinx()
        age.plot(rates["t"], rates["age"], color="black", linestyle="--", label="iterator age (s)")
        age.set_ylabel("iterator age (s)")
        lines = records.get_legend_handles_labels()
        more = age.get_legend_handles_labels()
        records.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left")
        records.set_title(title)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return True
