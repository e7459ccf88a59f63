"""Fakes (not mocks): small working stand-ins with the behaviour of the real thing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError


class FakeClock:
    """Monotonic time that only moves when something sleeps or a fake call takes time."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"negative sleep {seconds}"
        self.sleeps.append(seconds)
        self.now += seconds


# A script decides, per call, what PutRecords does: a list with one error code (or None for
# success) per entry, or an exception to raise for the whole call.
Script = Callable[[int, Sequence[dict[str, Any]]], "list[str | None] | BaseException | None"]


def client_error(code: str, status: int = 400, operation: str = "PutRecords") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": f"{code} (fake)"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


class FakeKinesis:
    """PutRecords with per-entry results in request order, like Kinesis; successes are kept."""

    def __init__(self, script: Script | None = None, clock: FakeClock | None = None, call_seconds: float = 0.0) -> None:
        self.script = script
        self.clock = clock
        self.call_seconds = call_seconds
        self.calls: list[list[dict[str, Any]]] = []
        self.written: list[tuple[str, bytes]] = []
        self._sequence = 0

    def put_records(self, Records: list[dict[str, Any]], **stream: str) -> dict[str, Any]:
        assert set(stream) <= {"StreamName", "StreamARN"}
        assert stream
        assert 1 <= len(Records) <= 500, "PutRecords takes 1 to 500 entries"
        self.calls.append(list(Records))
        if self.clock is not None:
            self.clock.now += self.call_seconds
        behaviour = self.script(len(self.calls) - 1, Records) if self.script else None
        if isinstance(behaviour, BaseException):
            raise behaviour
        codes = behaviour or [None] * len(Records)
        results: list[dict[str, Any]] = []
        for entry, code in zip(Records, codes, strict=True):
            if code:
                results.append({"ErrorCode": code, "ErrorMessage": f"{code} (fake)"})
                continue
            self._sequence += 1
            self.written.append((entry["PartitionKey"], entry["Data"]))
            results.append({"ShardId": "shardId-000000000000", "SequenceNumber": str(self._sequence)})
        return {"FailedRecordCount": sum(1 for r in results if "ErrorCode" in r), "Records": results}


class FakeSqs:
    """SendMessageBatch with per-entry failures, like SQS; successes are kept."""

    def __init__(
        self,
        fail: Callable[[int, str], str | None] | None = None,
        clock: FakeClock | None = None,
        call_seconds: float = 0.0,
    ) -> None:
        self.fail = fail
        self.clock = clock
        self.call_seconds = call_seconds
        self.calls = 0
        self.messages: list[str] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        assert 1 <= len(Entries) <= 10
        self.calls += 1
        if self.clock is not None:
            self.clock.now += self.call_seconds
        successful, failed = [], []
        for entry in Entries:
            code = self.fail(self.calls - 1, entry["MessageBody"]) if self.fail else None
            if code:
                failed.append({"Id": entry["Id"], "SenderFault": False, "Code": code, "Message": "fake"})
            else:
                self.messages.append(entry["MessageBody"])
                successful.append({"Id": entry["Id"], "MessageId": f"m-{len(self.messages)}"})
        return {"Successful": successful, "Failed": failed}


class FakeLambdaContext:
    """A Lambda context whose remaining time is real (counted from its creation)."""

    def __init__(self, timeout_seconds: float = 10.0, function_name: str = "weir-test-fn") -> None:
        import time
        import uuid

        self._time = time.monotonic
        self._ends = self._time() + timeout_seconds
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - self._time()) * 1000))


class ShardedKinesis:
    """Kinesis with ``shards`` shards over even hash-key ranges, each taking ``capacity`` records/s
    from a token bucket that holds one second (as the local endpoint applies the limit), on a fake
    clock: ListShards and PutRecords with per-entry throttling. ``capacity`` per shard id may be set
    lower to model other writers using the shard."""

    def __init__(self, clock: FakeClock, shards: int = 2, capacity: float = 1000.0, call_seconds: float = 0.01) -> None:
        from weir.shards import Shard

        self.clock = clock
        self.call_seconds = call_seconds
        step = (2**128) // shards
        self.shards = [
            Shard(f"shardId-{n:012d}", n * step, (n + 1) * step - 1 if n < shards - 1 else 2**128 - 1)
            for n in range(shards)
        ]
        self.capacity = {s.shard_id: capacity for s in self.shards}
        self._tokens = dict(self.capacity)
        self._last = clock()
        self.list_calls = 0
        self.entries_sent = 0
        self.written: list[tuple[float, str, str]] = []  # (time, shard id, partition key)
        self.first_sent: dict[str, float] = {}  # partition key -> when an entry of it was first sent
        self.throttled_at: list[float] = []

    def list_shards(self, **_: Any) -> dict[str, Any]:
        self.list_calls += 1
        return {
            "Shards": [
                {
                    "ShardId": s.shard_id,
                    "HashKeyRange": {"StartingHashKey": str(s.start), "EndingHashKey": str(s.end)},
                    "SequenceNumberRange": {"StartingSequenceNumber": "0"},
                }
                for s in self.shards
            ]
        }

    def shard_of(self, partition_key: str) -> str:
        from weir.shards import hash_key

        key = hash_key(partition_key)
        return next(s.shard_id for s in self.shards if s.start <= key <= s.end)

    def put_records(self, Records: list[dict[str, Any]], **stream: str) -> dict[str, Any]:
        assert 1 <= len(Records) <= 500
        now = self.clock()
        for shard_id, capacity in self.capacity.items():
            self._tokens[shard_id] = min(capacity, self._tokens[shard_id] + (now - self._last) * capacity)
        self._last = now
        results: list[dict[str, Any]] = []
        for entry in Records:
            self.entries_sent += 1
            key = entry["PartitionKey"]
            self.first_sent.setdefault(key, now)
            shard_id = self.shard_of(key)
            if self._tokens[shard_id] >= 1:
                self._tokens[shard_id] -= 1
                self.written.append((now, shard_id, key))
                results.append({"ShardId": shard_id, "SequenceNumber": str(len(self.written))})
            else:
                self.throttled_at.append(now)
                results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"})
        self.clock.now += self.call_seconds
        return {"FailedRecordCount": sum(1 for r in results if "ErrorCode" in r), "Records": results}


@contextlib.contextmanager
def logged_lines() -> Iterator[list[dict[str, Any]]]:
    """Every line the functions' Powertools logger writes inside the block, as the JSON it writes
    (its own formatter), collected into the yielded list when the block ends."""
    import io
    import json
    import logging

    from weir.observability import logger

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    underlying = logging.getLogger(logger.name)
    underlying.addHandler(handler)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        underlying.removeHandler(handler)
        lines.extend(json.loads(line) for line in buffer.getvalue().splitlines())
