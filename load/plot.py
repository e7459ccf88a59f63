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
    consumer_in_flight: int | None = None
    consumer_cap: int | None = None


@dataclass
class Timeline:
    samples: list[Sample] = field(default_factory=list)

    def add(self, sent: int, accepted: int, metrics_file: Path | None) -> None:
        processed = age = in_flight = cap = None
        if metrics_file is not None and metrics_file.exists():
            try:
                figures = json.loads(metrics_file.read_text())
                processed, age = int(figures["records_processed"]), int(figures["iterator_age_ms"])
                in_flight, cap = int(figures["consumer_in_flight"]), int(figures["consumer_cap"])
            except (ValueError, KeyError):
                pass
        self.samples.append(Sample(time.monotonic(), sent, accepted, processed, age, in_flight, cap))

    def concurrency(self) -> tuple[int, int] | None:
        """The consumer's peak concurrent batches and its cap, when the runtime reported them."""
        known = [s for s in self.samples if s.consumer_in_flight is not None and s.consumer_cap is not None]
        if not known:
            return None
        return max(int(s.consumer_in_flight or 0) for s in known), int(known[-1].consumer_cap or 0)

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

        figure, (records, batches) = plt.subplots(2, 1, figsize=(10, 7), sharex=True, height_ratios=[3, 1])
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
        start = self.samples[0].at
        times = [s.at - start for s in self.samples if s.consumer_in_flight is not None]
        if times:
            batches.step(
                times,
                [s.consumer_in_flight for s in self.samples if s.consumer_in_flight is not None],
                where="post",
                label="consumer batches in flight",
            )
            batches.plot(
                times,
                [s.consumer_cap for s in self.samples if s.consumer_in_flight is not None],
                color="red",
                linestyle=":",
                label="cap: min(shards x PF, reserved concurrency)",
            )
            batches.set_ylabel("batches")
            batches.legend(loc="upper left")
        batches.set_xlabel("seconds")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return True
