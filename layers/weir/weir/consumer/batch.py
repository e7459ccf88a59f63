"""Powertools' BatchProcessor, running different partition keys concurrently (docs/consumer.md)."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, Protocol

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType


class SkippedAfterEarlierFailure(Exception):
    """A record not attempted because an earlier record of its partition key failed."""


class KeyThreads(Protocol):
    """Told when a batch's key threads start and as each one finishes (the coalescing DynamoDB client
    uses it to know how many writes make a full round); nothing else about the threads."""

    def running(self, count: int) -> AbstractContextManager[None]: ...

    def finished(self) -> None: ...


class KeyOrderedBatchProcessor(BatchProcessor):
    """Powertools' BatchProcessor, running different partition keys concurrently.

    Within a key, records run in sequence-number order; after a key's first failure its later
    records are not attempted and are reported as failures too, so a key's events never reach
    the sink out of order. Lambda checkpoints before the lowest reported sequence number and
    delivers the rest again; idempotency makes the repeats harmless.

    One thread pool per execution environment (the processor is built once and reused), not one
    per batch. Records go through Powertools' own per-record path (``_process_record``, the method
    its processors implement); a skipped record is failed through it too, by its handler.
    """

    def __init__(self, max_workers: int, threads: KeyThreads | None = None) -> None:
        super().__init__(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=True)
        self.max_workers = max(1, max_workers)
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="key")
        self._skipping = threading.local()

    def process(self) -> list[tuple[Any, ...]]:
        groups: OrderedDict[str, list[int]] = OrderedDict()
        for index, record in enumerate(self.records):
            groups.setdefault(str(record["kinesis"]["partitionKey"]), []).append(index)
        results: list[tuple[Any, ...]] = [()] * len(self.records)
        handler = self.handler
        self.handler = self._unless_skipped(handler)

        def run_key(indexes: list[int]) -> None:
            for position, index in enumerate(indexes):
                results[index] = self._process_record(self.records[index])
                if results[index][0] == "fail":
                    self._skipping.on = True
                    try:
                        for later in indexes[position + 1 :]:
                            results[later] = self._process_record(self.records[later])
                    finally:
                        self._skipping.on = False
                    return

        keys = iter(groups.values())
        count = 1 if self.max_workers == 1 else min(self.max_workers, len(groups))
        lock = threading.Lock()

        def worker() -> None:
            # Each thread takes the next key until none are left, then stops writing.
            try:
                while True:
                    with lock:
                        indexes = next(keys, None)
                    if indexes is None:
                        return
                    run_key(indexes)
            finally:
                if self.threads is not None:
                    self.threads.finished()

        try:
            with self.threads.running(count) if self.threads is not None else contextlib.nullcontext():
                if count == 1:
                    worker()
                else:
                    for future in [self._pool.submit(worker) for _ in range(count)]:
                        future.result()
        finally:
            self.handler = handler
        # Report failures in stream order, whatever order the threads finished in.
        self.fail_messages.sort(key=_sequence_number)
        return results

    def _unless_skipped(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        def handle(*args: Any, **kwargs: Any) -> Any:
            if getattr(self._skipping, "on", False):
                raise SkippedAfterEarlierFailure("an earlier record of this partition key failed")
            return handler(*args, **kwargs)

        return handle


def _sequence_number(record: Any) -> int:
    return int(record.kinesis.sequence_number)
