"""Powertools' BatchProcessor, running different partition keys concurrently (docs/consumer.md).

Powertools' contract, kept: every record is handled by the record handler through Powertools' own
per-record path (``_process_record``), a failure is reported by its sequence number in
``batchItemFailures``, the failures are reported in the batch's order, a parser ``model=`` works, and
``BatchProcessingError`` is raised only when every record of the batch was tried and failed.

One deliberate difference, for the order of each key: after a record fails, the later records of its
partition key are **not tried** (a key's events never reach the sink out of order). They are not
reported as failures either: Lambda checkpoints before the lowest sequence number reported and
delivers everything after it again, and a key's untried records always come after that key's
failure. So a batch whose first record fails is answered with that one record, not with an
invocation error (Powertools' all-failed rule counts only records that were tried).
``process()`` returns ``("skipped", reason, record)`` for an untried record.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, Protocol

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import BatchTypeModels

SKIPPED = "skipped"
SKIP_REASON = "not tried: an earlier record of its partition key failed in this batch"


class KeyThreads(Protocol):
    """Told when a batch's key threads start and as each one finishes (the coalescing DynamoDB client
    uses it to know how many writes make a full round); nothing else about the threads."""

    def running(self, count: int) -> AbstractContextManager[None]: ...

    def finished(self) -> None: ...


class KeyOrderedBatchProcessor(BatchProcessor):
    """Powertools' BatchProcessor for Kinesis, running different partition keys concurrently.

    Within a key, records run in sequence-number order (the batch's order), and stop at the key's
    first failure. One thread pool per execution environment (the processor is built once and
    reused), not one per batch.
    """

    def __init__(
        self,
        max_workers: int,
        threads: KeyThreads | None = None,
        model: BatchTypeModels | None = None,
        raise_on_entire_batch_failure: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(
            event_type=EventType.KinesisDataStreams,
            model=model,
            raise_on_entire_batch_failure=raise_on_entire_batch_failure,
            logger=logger,
        )
        self.max_workers = max(1, max_workers)
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="key")

    def process(self) -> list[tuple[Any, ...]]:
        groups: OrderedDict[str, list[int]] = OrderedDict()
        for index, record in enumerate(self.records):
            groups.setdefault(str(record["kinesis"]["partitionKey"]), []).append(index)
        results: list[tuple[Any, ...]] = [()] * len(self.records)

        def run_key(indexes: list[int]) -> None:
            for position, index in enumerate(indexes):
                results[index] = self._process_record(self.records[index])
                if results[index][0] == "fail":
                    for later in indexes[position + 1 :]:
                        results[later] = (SKIPPED, SKIP_REASON, self.records[later])
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

        with self.threads.running(count) if self.threads is not None else contextlib.nullcontext():
            if count == 1:
                worker()
            else:
                for future in [self._pool.submit(worker) for _ in range(count)]:
                    future.result()
        self._in_batch_order(results)
        return results

    def _in_batch_order(self, results: list[tuple[Any, ...]]) -> None:
        """Powertools' lists as one thread would have filled them: in the batch's order, whatever
        order the key threads finished in (the failure handler appends a failed record and its
        exception together; the record is the one in that record's result)."""
        position = {id(result[2]): index for index, result in enumerate(results) if result[0] == "fail"}
        failures = sorted(zip(self.fail_messages, self.exceptions, strict=True), key=lambda f: position[id(f[0])])
        self.fail_messages[:] = [message for message, _ in failures]
        self.exceptions[:] = [exception for _, exception in failures]
        successes = {id(result[2]): index for index, result in enumerate(results) if result[0] == "success"}
        self.success_messages.sort(key=lambda message: successes[id(message)])
