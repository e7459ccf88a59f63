"""Kinesis on the local endpoint: kinesalite behind what the gateway adds to it.

* each shard's write limits (:mod:`local.kinesis.limits`), as per-entry failures of a 200 PutRecords;
  and the shared read limits of GetRecords;
* StreamARN on every call (kinesalite takes only StreamName), on-demand streams (4 shards),
  UpdateShardCount (:mod:`local.kinesis.reshard`), the stream-consumer API
  (:mod:`local.kinesis.consumers`) and SubscribeToShard (:mod:`local.kinesis.subscribe`);
* the records each stream accepted, whoever wrote them (``GET /_weir/stats``).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from local.faults import FaultSet
from local.kinesis import subscribe
from local.kinesis.consumers import CONSUMER_OPERATIONS, ConsumerError, StreamConsumers, stream_arn_of
from local.kinesis.limits import DEDICATED_READ_HEADER, ShardReadLimiter, ShardWriteLimiter
from local.kinesis.reshard import Resharder, ReshardError
from local.kinesis.shards import OpenShard, open_shards, owner, placement_key
from local.wire import Answer, Backend, Call, Forwarder, Request, Route, error_body, json_headers, without_length
from tools.template import LOCAL_ACCOUNT_ID, LOCAL_REGION

SHARD_MAP_TTL_SECONDS = 30.0
# A stream created without a ShardCount is on-demand, with 4 shards (recorded against AWS,
# tests/fixtures/aws-recorded/kinesis-api.json).
ON_DEMAND_SHARDS = 4
# Both kinesalite and this gateway write FailedRecordCount first; anything else is parsed in full.
_FAILED_RECORD_COUNT = re.compile(rb'\{\s*"FailedRecordCount"\s*:\s*(\d+)')


class KinesisApi:
    def __init__(self, backend: Backend, forwarder: Forwarder, faults: FaultSet, limiter: ShardWriteLimiter) -> None:
        self.backend = backend
        self.forward = forwarder.forward
        self.faults = faults
        self.limiter = limiter
        self.read_limiter = ShardReadLimiter(enabled=limiter.enabled)
        self._shard_maps: dict[str, tuple[float, tuple[OpenShard, ...]]] = {}
        self._shard_lock = threading.Lock()
        # Records the stream accepted, per stream name (GET /_weir/stats): what a benchmark counts
        # as written, whoever wrote them.
        self.records_written: Counter[str] = Counter()
        self._written_lock = threading.Lock()
        # Streams an UpdateShardCount is scaling now (reported UPDATING; a second one is refused).
        self._scaling: set[str] = set()
        self._scaling_lock = threading.Lock()
        # What kinesalite lacks: stream modes (it has only provisioned streams), stream consumers.
        self.stream_modes: dict[str, str] = {}
        self.consumers = StreamConsumers()
        self._subscribed: set[tuple[str, str]] = set()

    def routes(self) -> dict[tuple[str, str], Route]:
        """Kinesis' operations the gateway answers or adds to; the rest goes to kinesalite by name."""
        by_name: dict[str, Route] = {
            "PutRecords": self.put_records,
            "PutRecord": self.put_record,
            "GetShardIterator": self.read,
            "GetRecords": self.read,
            "UpdateShardCount": self.update_shard_count,
            "CreateStream": self.create_stream,
            "DeleteStream": self.delete_stream,
            "DescribeStream": self.describe_stream,
            "DescribeStreamSummary": self.describe_stream,
            "SubscribeToShard": self.subscribe_to_shard,
            "*": self.forward_call,
        }
        found: dict[tuple[str, str], Route] = {("kinesis", op): _by_stream_name(route) for op, route in by_name.items()}
        return found | {("kinesis", op): self.stream_consumer_call for op in CONSUMER_OPERATIONS}

    def forward_call(self, call: Call, request: Request) -> Answer:
        return self.forward(self.backend, request.method, request.path, request.headers, request.body)

    def kinesis_call(
        self, operation: str, params: dict[str, Any], headers: Mapping[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """A call of the gateway's own to the Kinesis backend, signed as the client's request was."""
        sent = {
            "X-Amz-Target": f"Kinesis_20131202.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": headers.get("Authorization", ""),
            "X-Amz-Date": headers.get("X-Amz-Date", ""),
        }
        status, _, data = self.forward(self.backend, "POST", "/", sent, json.dumps(params).encode())
        answer: dict[str, Any] = json.loads(data or b"{}")
        return status, answer

    def shard_map(self, stream: str, headers: Mapping[str, str]) -> tuple[OpenShard, ...] | None:
        now = time.monotonic()
        with self._shard_lock:
            cached = self._shard_maps.get(stream)
            if cached and now - cached[0] < SHARD_MAP_TTL_SECONDS:
                return cached[1]
        listed: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            request: dict[str, Any] = {"NextToken": token} if token else _stream_param(stream)
            status, page = self.kinesis_call("ListShards", request, headers)
            if status != 200:
                return None
            listed.extend(page.get("Shards", []))
            token = page.get("NextToken")
            if not token:
                break
        result = open_shards(listed)  # a closed shard takes no writes
        with self._shard_lock:
            self._shard_maps[stream] = (now, result)
        return result

    def update_shard_count(self, call: Call, request: Request) -> Answer:
        """UpdateShardCount, which kinesalite lacks, as the splits and merges AWS makes (local.kinesis.reshard)."""
        headers = request.headers
        stream = call.params.get("StreamARN") or call.params.get("StreamName")
        if not isinstance(stream, str) or not stream:
            extra, payload = error_body(call, "ValidationException", "StreamName or StreamARN is required", 400)
            return 400, extra, payload
        name = _stream_name(stream)
        with self._scaling_lock:
            if name in self._scaling:
                extra, payload = error_body(
                    call, "ResourceInUseException", f"Stream {name} is UPDATING: a scaling is under way", 400
                )
                return 400, extra, payload
            self._scaling.add(name)

        try:
            resharder = Resharder(
                lambda operation, params: self.kinesis_call(operation, params, headers), _stream_param(stream)
            )
            answer = resharder.update_shard_count(call.params.get("TargetShardCount"), call.params.get("ScalingType"))
        except ReshardError as exc:
            extra, payload = error_body(call, exc.code, str(exc), exc.status)
            return exc.status, extra, payload
        finally:
            with self._shard_lock:  # the write limits follow the new shards at once
                for cached in [s for s in self._shard_maps if _stream_name(s) == name]:
                    del self._shard_maps[cached]
            with self._scaling_lock:
                self._scaling.discard(name)
        answer["StreamName"] = name
        return 200, json_headers(), json.dumps(answer).encode()

    def describe_stream(self, call: Call, request: Request) -> Answer:
        """DescribeStream(Summary), with what kinesalite does not know: UPDATING while a scaling runs,
        the stream's mode, its registered consumers."""
        status, response_headers, data = self.forward(self.backend, "POST", request.path, request.headers, request.body)
        stream = call.params.get("StreamName")
        if status != 200 or not isinstance(stream, str):
            return status, response_headers, data
        answer = json.loads(data)
        for key in ("StreamDescription", "StreamDescriptionSummary"):
            if key in answer:
                described = answer[key]
                if stream in self._scaling:
                    described["StreamStatus"] = "UPDATING"
                described["StreamModeDetails"] = {"StreamMode": self.stream_modes.get(stream, "PROVISIONED")}
                if key == "StreamDescriptionSummary":
                    described["ConsumerCount"] = self.consumers.count(described["StreamARN"])
        return 200, without_length(response_headers), json.dumps(answer).encode()

    def create_stream(self, call: Call, request: Request) -> Answer:
        """CreateStream; without a ShardCount, or in on-demand mode, the stream AWS makes: 4 shards."""
        params = dict(call.params)
        mode = (params.get("StreamModeDetails") or {}).get("StreamMode") or (
            "PROVISIONED" if "ShardCount" in params else "ON_DEMAND"
        )
        if mode == "ON_DEMAND" and "ShardCount" in params:
            extra, payload = error_body(
                call, "ValidationException", "ShardCount is not supported for streams in ON_DEMAND mode", 400
            )
            return 400, extra, payload
        params.pop("StreamModeDetails", None)
        params.setdefault("ShardCount", ON_DEMAND_SHARDS)
        status, response_headers, data = self.forward(
            self.backend, "POST", request.path, request.headers, json.dumps(params).encode()
        )
        if status == 200 and isinstance(params.get("StreamName"), str):
            self.stream_modes[params["StreamName"]] = mode
        return status, response_headers, data

    def delete_stream(self, call: Call, request: Request) -> Answer:
        """DeleteStream; its consumers go with it."""
        status, response_headers, data = self.forward(self.backend, "POST", request.path, request.headers, request.body)
        if status == 200 and isinstance(call.params.get("StreamName"), str):
            name = call.params["StreamName"]
            self.stream_modes.pop(name, None)
            self.consumers.forget_stream(self.stream_arn(name))
        return status, response_headers, data

    def stream_arn(self, name: str) -> str:
        return f"arn:aws:kinesis:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:stream/{name}"

    def stream_exists(self, stream_arn: str, headers: Mapping[str, str]) -> bool:
        status, _ = self.kinesis_call("DescribeStreamSummary", {"StreamName": _stream_name(stream_arn)}, headers)
        return status == 200 and stream_arn == self.stream_arn(_stream_name(stream_arn))

    def stream_consumer_call(self, call: Call, request: Request) -> Answer:
        """RegisterStreamConsumer, DescribeStreamConsumer, ListStreamConsumers, DeregisterStreamConsumer."""
        status, answer = self.consumers.answer(
            call.operation, call.params, lambda arn: self.stream_exists(arn, request.headers)
        )
        if status != 200:
            extra, payload = error_body(call, answer["__type"], answer["message"], status)
            return status, extra, payload
        return 200, json_headers("1.1"), json.dumps(answer).encode()

    def subscribe_to_shard(self, call: Call, request: Request) -> Answer:
        """SubscribeToShard: the shard's records pushed over an event stream (local.kinesis.subscribe)."""
        try:
            consumer = self.consumers.find(call.params)
        except ConsumerError as exc:
            extra, payload = error_body(call, exc.code, str(exc), 400)
            return 400, extra, payload
        shard_id = str(call.params.get("ShardId", ""))
        position = call.params.get("StartingPosition") or {}
        stream = _stream_name(stream_arn_of(consumer.arn))
        iterator_request = {"StreamName": stream, "ShardId": shard_id, "ShardIteratorType": position.get("Type")}
        iterator_request |= {k: position[k] for k in ("SequenceNumber", "Timestamp") if k in position}
        status, answer = self.kinesis_call("GetShardIterator", iterator_request, request.headers)
        if status != 200:
            extra, payload = error_body(
                call, answer.get("__type", "InternalFailure"), answer.get("message", ""), status
            )
            return status, extra, payload
        key = (consumer.arn, shard_id)
        with self._scaling_lock:
            if key in self._subscribed:
                extra, payload = error_body(
                    call,
                    "ResourceInUseException",
                    f"Another active subscription exists for consumer {consumer.arn} on shard {shard_id}.",
                    400,
                )
                return 400, extra, payload
            self._subscribed.add(key)
        continuation = str(position.get("SequenceNumber") or "")
        if not continuation:
            shards = self.kinesis_call("ListShards", {"StreamName": stream}, request.headers)[1].get("Shards", [])
            shard: dict[str, Any] = next((s for s in shards if s["ShardId"] == shard_id), {})
            continuation = shard.get("SequenceNumberRange", {}).get("StartingSequenceNumber", "")

        def get_records(iterator: str) -> tuple[int, dict[str, Any]]:
            return self.kinesis_call("GetRecords", {"ShardIterator": iterator}, request.headers)

        def messages() -> Iterator[bytes]:
            try:
                yield from subscribe.subscription(get_records, answer["ShardIterator"], continuation)
            finally:
                with self._scaling_lock:
                    self._subscribed.discard(key)

        headers = [("Content-Type", subscribe.CONTENT_TYPE), ("x-amzn-RequestId", str(uuid.uuid4()))]
        return 200, headers, messages()

    def count_written(self, call: Call, status: int, data: bytes) -> None:
        """Add the records a successful PutRecord or PutRecords wrote to the stream's count."""
        stream = call.params.get("StreamARN") or call.params.get("StreamName")
        if status != 200 or not isinstance(stream, str):
            return
        written = 1
        if call.operation == "PutRecords":
            entries = call.params.get("Records")
            failed = _FAILED_RECORD_COUNT.match(data)
            written = len(entries) if isinstance(entries, list) else 0
            written -= int(failed[1]) if failed else int(json.loads(data).get("FailedRecordCount", 0))
        with self._written_lock:
            self.records_written[_stream_name(stream)] += written

    def written(self) -> dict[str, int]:
        with self._written_lock:
            return dict(self.records_written)

    def admit_record(self, stream: str, shard_map: tuple[OpenShard, ...], entry: Mapping[str, Any]) -> str | None:
        """One record (a PutRecords entry or a PutRecord call) against its shard's write limit: None
        when admitted, else the message AWS answers with. A malformed record is admitted, so that
        kinesalite produces the real validation error."""
        try:
            key = str(entry.get("PartitionKey", ""))
            shard = owner(shard_map, placement_key(key, entry.get("ExplicitHashKey")))
            size = len(base64.b64decode(entry.get("Data", ""))) + len(key.encode("utf-8"))
        except ValueError:
            return None
        if shard is None or self.limiter.admit(stream, shard, size):  # no open shard holds it: mid-reshard
            return None
        return f"Rate exceeded for shard {shard.shard_id} in stream {_stream_name(stream)}."

    def put_records(self, call: Call, request: Request) -> Answer:
        status, response_headers, data = self._put_records(call, request)
        self.count_written(call, status, data)
        return status, response_headers, data

    def _put_records(self, call: Call, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        fault, path, headers, body = request.fault, request.path, request.headers, request.body
        entries = call.params.get("Records")
        stream = call.params.get("StreamARN") or call.params.get("StreamName")
        if not isinstance(entries, list) or not entries or not isinstance(stream, str):
            return self.forward(self.backend, "POST", path, headers, body)
        rejected: dict[int, tuple[str, str]] = {}
        if fault is not None and fault.per_entry:
            for i in range(len(entries)):
                if self.faults.entry_fails(fault):
                    rejected[i] = (fault.error or "InternalFailure", fault.message or "Injected fault")
        if self.limiter.enabled:
            shard_map = self.shard_map(stream, headers)
            if shard_map is not None:
                for i, entry in enumerate(entries):
                    if i not in rejected:
                        refusal = self.admit_record(stream, shard_map, entry)
                        if refusal is not None:
                            rejected[i] = ("ProvisionedThroughputExceededException", refusal)
        if not rejected:
            return self.forward(self.backend, "POST", path, headers, body)
        kept = [i for i in range(len(entries)) if i not in rejected]
        results: list[dict[str, Any]] = [{} for _ in entries]
        status, response_headers = 200, [("Content-Type", "application/x-amz-json-1.1")]
        if kept:
            params = dict(call.params)
            params["Records"] = [entries[i] for i in kept]
            status, response_headers, data = self.forward(
                self.backend, "POST", path, headers, json.dumps(params).encode()
            )
            if status != 200:
                return status, response_headers, data
            for i, result in zip(kept, json.loads(data).get("Records", []), strict=True):
                results[i] = result
        for i, (code, message) in rejected.items():
            results[i] = {"ErrorCode": code, "ErrorMessage": message}
        failed = sum(1 for r in results if "ErrorCode" in r)
        payload = json.dumps({"FailedRecordCount": failed, "Records": results}).encode()
        return 200, [(k, v) for k, v in response_headers if k.lower() != "content-length"], payload

    def put_record(self, call: Call, request: Request) -> Answer:
        """PutRecord against its shard's write limit."""
        stream = call.params.get("StreamName")
        if self.limiter.enabled and isinstance(stream, str):
            shard_map = self.shard_map(stream, request.headers)
            refusal = self.admit_record(stream, shard_map, call.params) if shard_map is not None else None
            if refusal is not None:
                extra, payload = error_body(call, "ProvisionedThroughputExceededException", refusal, 400)
                return 400, extra, payload
        status, response_headers, data = self.forward(self.backend, "POST", request.path, request.headers, request.body)
        self.count_written(call, status, data)
        return status, response_headers, data

    def read(self, call: Call, request: Request) -> Answer:
        """GetShardIterator and GetRecords, within the shard's shared read limits (local.kinesis.limits)."""
        limiter, headers = self.read_limiter, request.headers
        if not limiter.enabled:  # nothing to count: no answer is read (a reader is followed again
            # from its next GetShardIterator once the limits are back on)
            return self.forward(self.backend, "POST", request.path, headers, request.body)
        shard: str | None = None
        if call.operation == "GetShardIterator":
            shard = f"{call.params.get('StreamName')}/{call.params.get('ShardId')}"
        elif not any(k.lower() == DEDICATED_READ_HEADER.lower() for k in headers):
            admitted, shard = limiter.admit(str(call.params.get("ShardIterator", "")))
            if not admitted:
                extra, payload = error_body(
                    call, "ProvisionedThroughputExceededException", "Rate exceeded for Shard (local read limits).", 400
                )
                return 400, extra, payload
        status, response_headers, data = self.forward(self.backend, "POST", request.path, headers, request.body)
        if status == 200 and shard is not None:
            answer = json.loads(data or b"{}")
            limiter.note(answer.get("ShardIterator") or answer.get("NextShardIterator"), shard)
            if call.operation == "GetRecords":
                limiter.charge(shard, sum(len(r.get("Data", "")) * 3 // 4 for r in answer.get("Records", [])))
        return status, response_headers, data


def _by_stream_name(route: Route) -> Route:
    """``route``, for a call that names its stream by StreamARN as kinesalite takes it: by StreamName.
    AWS takes either on every stream operation; kinesalite answers a call without StreamName as if no
    stream were named."""

    def by_name(call: Call, request: Request) -> Answer:
        arn = call.params.get("StreamARN")
        if not isinstance(arn, str) or "StreamName" in call.params:
            return route(call, request)
        params = {k: v for k, v in call.params.items() if k != "StreamARN"} | {"StreamName": _stream_name(arn)}
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        renamed = Request(request.method, request.path, headers, json.dumps(params).encode(), request.fault)
        return route(Call(call.service, call.operation, params, call.json_protocol), renamed)

    return by_name


def _stream_param(stream: str) -> dict[str, str]:
    return {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}


def _stream_name(stream: str) -> str:
    return stream.rsplit("/", 1)[-1]
