"""One archived record: a JSON line per user record, gzip-compressed by Firehose into objects under
``archive/arrival=YYYY-MM-DD-HH/`` (the hour the object's oldest record arrived).

``{"shard_id", "sequence_number", "sub_sequence_number", "partition_key", "arrival_ms", "data"}``,
``data`` base64. The raw record alone keeps neither its partition key nor its arrival time: the
replay needs the one to put it back where its key's order lives, the other to pick its range.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

PREFIX = "archive/"
ERROR_PREFIX = "archive-errors/"


@dataclass(frozen=True)
class ArchivedRecord:
    shard_id: str
    sequence_number: str
    sub_sequence_number: int | None
    partition_key: str
    arrival: datetime
    data: bytes

    def to_line(self) -> bytes:
        return (
            json.dumps(
                {
                    "shard_id": self.shard_id,
                    "sequence_number": self.sequence_number,
                    "sub_sequence_number": self.sub_sequence_number,
                    "partition_key": self.partition_key,
                    "arrival_ms": int(self.arrival.timestamp() * 1000),
                    "data": base64.b64encode(self.data).decode(),
                },
                separators=(",", ":"),
            ).encode()
            + b"\n"
        )


class UnreadableArchive(ValueError):
    """An archive object or line that is not what the transformation writes."""


def read_object(body: bytes) -> Iterator[ArchivedRecord]:
    """The records of one archive object (gzip, as Firehose writes it; plain lines are read too)."""
    text = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            yield ArchivedRecord(
                str(item["shard_id"]),
                str(item["sequence_number"]),
                None if item.get("sub_sequence_number") is None else int(item["sub_sequence_number"]),
                str(item["partition_key"]),
                datetime.fromtimestamp(int(item["arrival_ms"]) / 1000, UTC),
                base64.b64decode(item["data"], validate=True),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise UnreadableArchive(f"line {number}: {exc}") from None


def hour_prefix(moment: datetime) -> str:
    """The prefix of the objects whose oldest record arrived in ``moment``'s hour (UTC)."""
    return f"{PREFIX}arrival={moment.astimezone(UTC):%Y-%m-%d-%H}/"
