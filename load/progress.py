"""The one progress line a load run prints every few seconds, while it loads and while it drains."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Counts:
    """What the clients know: events offered, accepted (onto the stream or spilled), refused."""

    sent: int = 0
    accepted: int = 0
    spilled: int = 0
    not_taken: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.sent + other.sent,
            self.accepted + other.accepted,
            self.spilled + other.spilled,
            self.not_taken + other.not_taken,
        )


@dataclass(frozen=True)
class Consumer:
    """What the local runtime reports of its consumer (``build/local-metrics.json``); None in AWS."""

    processed: int
    iterator_age_ms: int

    @classmethod
    def read(cls, path: Path | None) -> Consumer | None:
        if path is None:
            return None
        try:
            figures = json.loads(path.read_text())
            return cls(int(figures["records_processed"]), int(figures["iterator_age_ms"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def line(phase: str, elapsed: float, counts: Counts, consumer: Consumer | None, stored: int | None = None) -> str:
    """``[load 25s] offered 51,200 accepted 30,100 (spilled 2,000) refused 19,000 processed 28,000
    backlog 100 iterator age 1.2 s``; in AWS, where the consumer's figures are CloudWatch's, the
    events known stored stand in for them."""
    parts = [
        f"[{phase} {elapsed:4.0f}s]",
        f"offered {counts.sent:,}",
        f"accepted {counts.accepted:,} (spilled {counts.spilled:,})",
        f"refused {counts.not_taken:,}",
    ]
    if consumer is not None:
        backlog = max(0, counts.accepted - counts.spilled - consumer.processed)
        parts += [
            f"processed {consumer.processed:,}",
            f"backlog {backlog:,}",
            f"iterator age {consumer.iterator_age_ms / 1000:.1f} s",
        ]
    if stored is not None:
        parts.append(f"stored {stored:,}")
    return " ".join(parts)
