"""The S3 on-failure destination as a redrive source: the objects under ``aws/lambda/``.

Done: moved to ``redriven/``; unrecoverable: moved to ``unrecoverable/`` with a pointer message.
Objects are never deleted without a copy.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

from weir.deadline import Deadline
from weir.producer import Record
from weir.redrive.request import RedriveRequest, SourceName
from weir.redrive.sources import Item, s3_failure_records
from weir.redrive.unrecoverable import UnrecoverableSink


class BucketSource:
    name: SourceName = "s3-failures"
    PREFIX = "aws/lambda/"

    def __init__(self, s3: Any, bucket: str, unrecoverable_sink: UnrecoverableSink) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._sink = unrecoverable_sink
        self._drained = False

    @property
    def drained(self) -> bool:
        return self._drained

    def _keys(self) -> Iterator[dict[str, Any]]:
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=self.PREFIX):
            yield from page.get("Contents", [])

    def items(self, request: RedriveRequest, deadline: Deadline) -> Generator[Item, None, None]:
        self._drained = False
        for entry in self._keys():
            modified = entry["LastModified"]
            if not request.in_window(modified):
                continue
            body = self._s3.get_object(Bucket=self._bucket, Key=entry["Key"])["Body"].read()
            yield Item(self.name, entry["Key"], body, modified)
        self._drained = True

    def records(self, item: Item) -> list[Record]:
        return s3_failure_records(item.body)

    def _move(self, key: str, prefix: str) -> None:
        self._s3.copy_object(Bucket=self._bucket, Key=prefix + key, CopySource={"Bucket": self._bucket, "Key": key})
        self._s3.delete_object(Bucket=self._bucket, Key=key)

    def done(self, item: Item) -> None:
        self._move(item.ref, "redriven/")

    def release(self, item: Item) -> None:
        """Objects stay where they are."""

    def let_go(self) -> None:
        """Nothing is held: an object is read, not hidden."""

    def unrecoverable(self, item: Item, reason: str) -> None:
        self._move(item.ref, "unrecoverable/")
        self._sink.put(self.name, f"s3://{self._bucket}/unrecoverable/{item.ref}", reason, None)

    # Counting what is left lists the prefix: stop at this many, so a run that stopped near its
    # deadline does not spend the rest of it listing a huge backlog (ten ListObjectsV2 pages).
    COUNT_AT_MOST = 10_000

    def remaining(self) -> int:
        """How many objects wait under the prefix, counted up to :attr:`COUNT_AT_MOST`."""
        count = 0
        for _ in self._keys():
            count += 1
            if count >= self.COUNT_AT_MOST:
                break
        return count
