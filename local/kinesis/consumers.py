"""Kinesis' stream-consumer API (enhanced fan-out), which kinesalite lacks: the registry of consumers.

RegisterStreamConsumer, DescribeStreamConsumer, ListStreamConsumers and DeregisterStreamConsumer, in
memory, per stream ARN. Field names, the ARN's form (``<stream ARN>/consumer/<name>:<epoch seconds>``)
and the statuses are as recorded against AWS (tests/fixtures/aws-recorded/kinesis-api.json) and in the
API reference: a consumer is CREATING in RegisterStreamConsumer's answer and ACTIVE afterwards (AWS
takes a few seconds; here it is at once); a stream has at most 20 consumers. SubscribeToShard is
:mod:`local.kinesis.subscribe`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CONSUMER_OPERATIONS = frozenset(
    {"RegisterStreamConsumer", "DescribeStreamConsumer", "ListStreamConsumers", "DeregisterStreamConsumer"}
)
MAX_CONSUMERS_PER_STREAM = 20  # "Kinesis Data Streams quotas and limits": 20 registered consumers per stream


@dataclass(frozen=True)
class Consumer:
    name: str
    stream_arn: str
    created: float

    @property
    def arn(self) -> str:
        return f"{self.stream_arn}/consumer/{self.name}:{int(self.created)}"

    def summary(self, status: str = "ACTIVE") -> dict[str, Any]:
        return {
            "ConsumerName": self.name,
            "ConsumerARN": self.arn,
            "ConsumerStatus": status,
            "ConsumerCreationTimestamp": self.created,
        }


class ConsumerError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def stream_arn_of(consumer_arn: str) -> str:
    """The stream ARN inside a consumer ARN."""
    return consumer_arn.split("/consumer/", 1)[0]


class StreamConsumers:
    """The consumers registered on each stream, by stream ARN."""

    def __init__(self) -> None:
        self._by_stream: dict[str, dict[str, Consumer]] = {}
        self._lock = threading.Lock()

    def count(self, stream_arn: str) -> int:
        with self._lock:
            return len(self._by_stream.get(stream_arn, {}))

    def forget_stream(self, stream_arn: str) -> None:
        """A deleted stream's consumers go with it."""
        with self._lock:
            self._by_stream.pop(stream_arn, None)

    def find(self, params: dict[str, Any]) -> Consumer:
        """The consumer a call names, by ConsumerARN or by StreamARN and ConsumerName."""
        arn = params.get("ConsumerARN")
        stream_arn = stream_arn_of(arn) if isinstance(arn, str) else params.get("StreamARN")
        name = params.get("ConsumerName")
        if not isinstance(stream_arn, str) or not (isinstance(arn, str) or isinstance(name, str)):
            raise ConsumerError("InvalidArgumentException", "ConsumerARN, or StreamARN and ConsumerName, is required")
        with self._lock:
            consumers = self._by_stream.get(stream_arn, {})
            found = (
                next((c for c in consumers.values() if c.arn == arn), None)
                if isinstance(arn, str)
                else consumers.get(str(name))
            )
        if found is None:
            raise ConsumerError(
                "ResourceNotFoundException", f"Consumer {arn or name} under stream {stream_arn} not found."
            )
        return found

    def answer(
        self, operation: str, params: dict[str, Any], stream_exists: Callable[[str], bool]
    ) -> tuple[int, dict[str, Any]]:
        """One call of the consumer API: (HTTP status, answer or error body)."""
        try:
            return 200, self._answer(operation, params, stream_exists)
        except ConsumerError as exc:
            return 400, {"__type": exc.code, "message": str(exc)}

    def _answer(self, operation: str, params: dict[str, Any], stream_exists: Callable[[str], bool]) -> dict[str, Any]:
        if operation == "RegisterStreamConsumer":
            return {"Consumer": self._register(params, stream_exists).summary("CREATING")}
        if operation == "DescribeStreamConsumer":
            consumer = self.find(params)
            return {"ConsumerDescription": consumer.summary() | {"StreamARN": consumer.stream_arn}}
        if operation == "DeregisterStreamConsumer":
            consumer = self.find(params)
            with self._lock:
                self._by_stream.get(consumer.stream_arn, {}).pop(consumer.name, None)
            return {}
        return self._list(params, stream_exists)

    def _register(self, params: dict[str, Any], stream_exists: Callable[[str], bool]) -> Consumer:
        stream_arn, name = params.get("StreamARN"), params.get("ConsumerName")
        if not isinstance(stream_arn, str) or not isinstance(name, str) or not name:
            raise ConsumerError("InvalidArgumentException", "StreamARN and ConsumerName are required")
        if not stream_exists(stream_arn):
            raise ConsumerError("ResourceNotFoundException", f"Stream {stream_arn} not found.")
        with self._lock:
            consumers = self._by_stream.setdefault(stream_arn, {})
            if name in consumers:
                raise ConsumerError(
                    "ResourceInUseException", f"Consumer {name} under stream {stream_arn} already exists."
                )
            if len(consumers) >= MAX_CONSUMERS_PER_STREAM:
                raise ConsumerError(
                    "LimitExceededException",
                    f"Stream {stream_arn} has {len(consumers)} consumers, the limit is {MAX_CONSUMERS_PER_STREAM}.",
                )
            consumer = Consumer(name, stream_arn, float(int(time.time())))
            consumers[name] = consumer
        return consumer

    def _list(self, params: dict[str, Any], stream_exists: Callable[[str], bool]) -> dict[str, Any]:
        stream_arn, token = params.get("StreamARN"), params.get("NextToken")
        offset = int(token) if isinstance(token, str) and token.isdigit() else 0  # our token: an offset
        if not isinstance(stream_arn, str):
            raise ConsumerError("InvalidArgumentException", "StreamARN is required")
        if not stream_exists(stream_arn):
            raise ConsumerError("ResourceNotFoundException", f"Stream {stream_arn} not found.")
        limit = int(params.get("MaxResults") or 100)
        with self._lock:
            listed = sorted(self._by_stream.get(stream_arn, {}).values(), key=lambda c: (c.created, c.name))
        page = listed[offset : offset + limit]
        answer: dict[str, Any] = {"Consumers": [c.summary() for c in page]}
        if offset + limit < len(listed):
            answer["NextToken"] = str(offset + limit)
        return answer
