"""One AWS endpoint for every service, on 127.0.0.1:4566.

Every SigV4-signed request names its service in the credential scope of its Authorization
header (``.../us-east-1/kinesis/aws4_request``). Kinesis goes to kinesalite, everything else to
moto server. The gateway is where the local runtime applies what AWS applies on the wire, so
every client (the functions, the AWS CLI, Locust) meets it the same way:

* Kinesis per-shard write limits (:mod:`local.limits`), as per-entry failures in a 200 response;
* faults (:mod:`local.faults`), managed at ``/_weir/faults``.

Control API (JSON): ``GET|POST|DELETE /_weir/faults``, ``DELETE /_weir/faults/<id>``,
``GET|PUT /_weir/limits``, ``GET /_weir/stats`` (records each stream accepted), ``GET /_weir/health``.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import select
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local import kinesis_subscribe, partiql, sqs_batches
from local.dynalite_gaps import TTL_OPERATIONS, DynaliteGaps
from local.dynamodb_streams import STREAMS_TARGET_PREFIX, WRITES, TableStreams
from local.dynamodb_transactions import TRANSACTIONS, TableLock, Transactions
from local.faults import Fault, FaultError, FaultSet
from local.httpd import HOP_BY_HOP, LoopbackHandler, LoopbackServer
from local.kinesis_consumers import CONSUMER_OPERATIONS, ConsumerError, StreamConsumers, stream_arn_of
from local.kinesis_shards import OpenShard, open_shards, owner, placement_key
from local.limits import DEDICATED_READ_HEADER, ShardReadLimiter, ShardWriteLimiter
from local.reshard import Resharder, ReshardError
from local.template import LOCAL_ACCOUNT_ID, LOCAL_REGION

log = logging.getLogger("weir.gateway")

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_TARGET_PREFIX_SERVICE = {"Kinesis_": "kinesis", "DynamoDB_": "dynamodb", "AmazonSQS": "sqs"}
SHARD_MAP_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class Backend:
    host: str
    port: int


@dataclass
class Call:
    """One AWS call as the gateway sees it."""

    service: str
    operation: str
    params: dict[str, Any]
    json_protocol: bool


@dataclass(frozen=True)
class Request:
    """The HTTP request behind a call, as the client sent it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    fault: Fault | None = None  # a per-entry fault picked for this call


# An answer: status, headers, and the body (an iterator of chunks for a streamed answer).
Answer = tuple[int, list[tuple[str, str]], "bytes | Iterator[bytes]"]
Route = Callable[[Call, Request], Answer]
# A stream created without a ShardCount is on-demand, with 4 shards (recorded against AWS,
# tests/fixtures/aws-recorded/kinesis-api.json).
ON_DEMAND_SHARDS = 4


def service_of(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> str:
    auth = headers.get("Authorization", "")
    found = _SCOPE.search(auth)
    if not found and "X-Amz-Credential" in query:
        found = _SCOPE.search("Credential=" + query["X-Amz-Credential"][0])
    if found:
        return found.group(1).lower()
    target = headers.get("X-Amz-Target", "")
    for prefix, service in _TARGET_PREFIX_SERVICE.items():
        if target.startswith(prefix):
            return service
    return "unknown"


def describe_call(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Call:
    split = urlsplit(path)
    query = parse_qs(split.query, keep_blank_values=True)
    service = service_of(headers, query)
    target = headers.get("X-Amz-Target")
    params: dict[str, Any] = {}
    if target:
        operation = target.rsplit(".", 1)[-1]
        try:
            loaded = json.loads(body or b"{}")
            params = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            params = {}
        return Call(service, operation, params, json_protocol=True)
    content_type = headers.get("Content-Type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"))
        params = {k: v[0] for k, v in form.items()}
        return Call(service, params.get("Action", ""), params, json_protocol=False)
    if "/operation/" in split.path:  # Smithy RPC v2 (CBOR)
        return Call(service, split.path.rsplit("/", 1)[-1], params, json_protocol=False)
    if service == "s3":
        return Call(service, _s3_operation(method, split.path, query), {"Bucket": _s3_bucket(split.path)}, False)
    if service == "lambda" and split.path.endswith("/invocations"):
        return Call(service, "Invoke", {"FunctionName": split.path.split("/")[-2]}, False)
    return Call(service, method, params, json_protocol=False)


def _s3_bucket(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


def _s3_operation(method: str, path: str, query: Mapping[str, list[str]]) -> str:
    has_key = "/" in path.lstrip("/")
    if method == "GET":
        return "GetObject" if has_key else ("ListObjectsV2" if "list-type" in query else "ListObjects")
    if method == "PUT":
        return "PutObject" if has_key else "CreateBucket"
    if method == "DELETE":
        return "DeleteObject" if has_key else "DeleteBucket"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    return method


class _Backends(threading.local):
    """One persistent connection per backend per gateway thread."""

    def __init__(self) -> None:
        self.connections: dict[Backend, http.client.HTTPConnection] = {}


def _still_open(connection: http.client.HTTPConnection) -> bool:
    """False when the peer has closed an idle kept-alive connection (it reads as end of file)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return not readable or sock.recv(1, socket.MSG_PEEK) != b""
    except OSError:
        return False


class Gateway:
    """Routes, limits and faults. The HTTP server around it is :class:`GatewayServer`."""

    def __init__(
        self,
        kinesis: Backend,
        default: Backend,
        limiter: ShardWriteLimiter | None = None,
        dynamodb: Backend | None = None,
    ) -> None:
        # Services the local runtime answers itself (the Lambda API of the local stack), by name.
        self.services: dict[str, Any] = {}
        self.kinesis = kinesis
        self.default = default
        # DynamoDB's own backend (dynalite), or moto's with everything else.
        self.dynamodb = dynamodb or default
        self.dynalite_gaps = DynaliteGaps() if self.dynamodb != default else None
        # DynamoDB Streams of the tables that have one (local.dynamodb_streams): neither backend has them.
        self.table_streams = TableStreams(region=LOCAL_REGION, account=LOCAL_ACCOUNT_ID)
        # Single calls hold it shared, a transaction exclusively: a transaction runs alone.
        self.table_lock = TableLock()
        self._transaction_tokens: dict[str, tuple[float, str]] = {}
        # A batch's statements go to DynamoDB side by side (up to a whole batch at once), so the
        # single-threaded backend is never idle waiting for this process between statements.
        self._statements = ThreadPoolExecutor(max_workers=25, thread_name_prefix="statement")
        self.faults = FaultSet()
        self.limiter = limiter or ShardWriteLimiter()
        self.read_limiter = ShardReadLimiter(enabled=self.limiter.enabled)
        self._local = _Backends()
        self._shard_maps: dict[str, tuple[float, tuple[OpenShard, ...]]] = {}
        self._shard_lock = threading.Lock()
        self._key_names: dict[str, list[str]] = {}
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
        # Every call by (service, operation), then (service, "*"); the rest goes to moto as it came.
        self.routes: dict[tuple[str, str], Route] = {
            ("kinesis", "PutRecords"): self.put_records,
            ("kinesis", "PutRecord"): self.put_record,
            ("kinesis", "GetShardIterator"): self.read,
            ("kinesis", "GetRecords"): self.read,
            ("kinesis", "UpdateShardCount"): self.update_shard_count,
            ("kinesis", "CreateStream"): self.create_stream,
            ("kinesis", "DeleteStream"): self.delete_stream,
            ("kinesis", "DescribeStream"): self.describe_stream,
            ("kinesis", "DescribeStreamSummary"): self.describe_stream,
            ("kinesis", "SubscribeToShard"): self.subscribe_to_shard,
            **{("kinesis", operation): self.stream_consumer_call for operation in CONSUMER_OPERATIONS},
            ("kinesis", "*"): self.forward_call,
            ("dynamodb", "*"): self.dynamodb_call,
            ("sqs", "*"): self.sqs_call,
        }

    def route(self, call: Call) -> Route:
        """What answers this call."""
        local_service = self.services.get(call.service)
        if local_service is not None:
            return lambda _call, request: local_service(request.method, request.path, request.headers, request.body)
        found = self.routes.get((call.service, call.operation)) or self.routes.get((call.service, "*"))
        if found is None:
            return self.forward_call
        if call.service == "kinesis" and call.operation not in CONSUMER_OPERATIONS:
            return lambda call, request: found(*_by_stream_name(call, request))
        return found

    def forward_call(self, call: Call, request: Request) -> Answer:
        """The call to its backend as it came."""
        return self.forward(self.backend_for(call.service), request.method, request.path, request.headers, request.body)

    def close(self) -> None:
        self._statements.shutdown(wait=False, cancel_futures=True)

    # --- forwarding ------------------------------------------------------------------

    def forward(
        self, backend: Backend, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        send_headers = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        send_headers["Content-Length"] = str(len(body))
        connection = self._local.connections.get(backend)
        if connection is not None and not _still_open(connection):
            # The backend closed this kept-alive connection while it was idle: nothing was sent on
            # it, so a new connection is safe.
            connection.close()
            connection = None
        if connection is None:
            connection = http.client.HTTPConnection(backend.host, backend.port, timeout=120)
            connection.connect()
            if connection.sock is not None:
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.connections[backend] = connection
        try:
            connection.request(method, path, body=body, headers=send_headers)
            response = connection.getresponse()
            data = response.read()
        except (ConnectionError, http.client.HTTPException, OSError):
            # Never sent again: once a byte is out, the backend may have applied the request (a
            # PutRecords written twice is a duplicate nobody asked for). The client's SDK decides.
            connection.close()
            self._local.connections.pop(backend, None)
            raise
        return response.status, response.getheaders(), data

    def dynamodb_single(
        self, path: str, headers: Mapping[str, str]
    ) -> Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]:
        """A single DynamoDB call to the backend, signed as the client's request was."""

        def single(operation: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            sent = {k: v for k, v in headers.items() if k.lower() != "x-amz-target"}
            sent["X-Amz-Target"] = f"DynamoDB_20120810.{operation}"
            status, _, data = self.forward(self.dynamodb, "POST", path, sent, json.dumps(params).encode())
            answer = json.loads(data or b"{}")
            return status, answer if isinstance(answer, dict) else {}

        return single

    def key_names(self, table: str, single: Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]) -> list[str]:
        """The table's key attribute names, hash key first: DescribeTable once per table, then
        from memory. Raises LookupError naming the table when it cannot be described."""
        found = self._key_names.get(table)
        if found is None:
            status, answer = single("DescribeTable", {"TableName": table})
            if status >= 300:
                raise LookupError(f"table {table!r}: {answer.get('message', status)}")
            schema = sorted(answer["Table"]["KeySchema"], key=lambda key: key["KeyType"] != "HASH")
            found = [key["AttributeName"] for key in schema]
            self._key_names[table] = found
        return found

    def dynamodb_call(self, call: Call, request: Request) -> Answer:
        """Every DynamoDB call: transactions and PartiQL emulated, dynalite's gaps filled, table streams
        kept and answered, the rest forwarded; a transaction runs alone (local.dynamodb_transactions)."""
        if request.headers.get("X-Amz-Target", "").startswith(STREAMS_TARGET_PREFIX):
            status, answer = self.table_streams.answer(call.operation, call.params)
            return status, _json_headers(), json.dumps(answer, default=str).encode()
        if call.operation in TRANSACTIONS:
            with self.table_lock.exclusive():
                status, answer = self.transaction(call, request)
            return status, _json_headers(), json.dumps(answer).encode()
        with self.table_lock.shared():
            status, response_headers, data = self._dynamodb_call(call, request)
        worded = _as_aws_words(status, data)
        if worded is not data:  # the backend's checksum was of the body it wrote
            return status, _without_length(response_headers), worded
        return status, response_headers, data

    def transaction(self, call: Call, request: Request) -> tuple[int, dict[str, Any]]:
        single = self.dynamodb_single(request.path, request.headers)
        transactions = Transactions(
            single,
            self.table_streams.recording(single),
            lambda table: self.key_names(table, single),
            self._transaction_tokens,
        )
        if call.operation == "TransactWriteItems":
            return transactions.write(call.params)
        if call.operation == "TransactGetItems":
            return transactions.get(call.params)
        return transactions.execute(call.params)

    def _dynamodb_call(self, call: Call, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        method, path, headers, body = request.method, request.path, request.headers, request.body
        if call.operation == "BatchExecuteStatement":
            return self.batch_execute_statement(call, path, headers)
        if call.operation == "ExecuteStatement":
            single = self.table_streams.recording(self.dynamodb_single(path, headers))
            status, answer = partiql.execute_statement(call.params, single, lambda table: self.key_names(table, single))
            return status, _json_headers(), json.dumps(answer).encode()
        gaps = self.dynalite_gaps
        if gaps is not None and call.operation in TTL_OPERATIONS:
            status, answer = gaps.time_to_live(call.operation, call.params, self.dynamodb_single(path, headers))
            return status, _json_headers(), json.dumps(answer).encode()
        streamed = self.stream_call(call, path, headers)
        if streamed is not None:
            status, answer = streamed
            if gaps is not None and gaps.wants_old_item(call.operation, call.params):
                single = self.dynamodb_single(path, headers)
                completed = gaps.add_old_item(
                    call.operation,
                    call.params,
                    status,
                    json.dumps(answer).encode(),
                    single,
                    lambda table: self.key_names(table, single),
                )
                return status, _json_headers(), completed
            return status, _json_headers(), json.dumps(answer).encode()
        status, response_headers, data = self.forward(self.dynamodb, method, path, headers, body)
        if gaps is not None and gaps.wants_old_item(call.operation, call.params):
            single = self.dynamodb_single(path, headers)
            completed = gaps.add_old_item(
                call.operation, call.params, status, data, single, lambda table: self.key_names(table, single)
            )
            if completed is not data:
                response_headers = [
                    (k, v) for k, v in response_headers if k.lower() not in {"content-length", "x-amz-crc32"}
                ]
                data = completed
        return status, response_headers, data

    def stream_call(self, call: Call, path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]] | None:
        """A call that a table stream has to see (its writes, the table's own description and stream
        settings), or None for one that goes to the backend as it came."""
        streams = self.table_streams
        params = call.params
        table = str(params.get("TableName", ""))
        single = self.dynamodb_single(path, headers)
        if call.operation in WRITES and streams.has_stream(table):
            return streams.write(call.operation, params, single)
        if call.operation == "BatchWriteItem" and any(streams.has_stream(t) for t in params.get("RequestItems") or {}):
            return streams.batch_write(params, single)
        if call.operation == "CreateTable" and "StreamSpecification" in params:
            sent = {k: v for k, v in params.items() if k != "StreamSpecification"}
            status, answer = single("CreateTable", sent)
            if status < 300:
                keys = [k["AttributeName"] for k in sorted(params["KeySchema"], key=lambda k: k["KeyType"] != "HASH")]
                answer["TableDescription"] |= streams.enable(table, params["StreamSpecification"], keys)
            return status, answer
        if call.operation == "UpdateTable" and "StreamSpecification" in params:
            rest = {k: v for k, v in params.items() if k not in ("StreamSpecification", "TableName")}
            status, answer = (
                single("UpdateTable", {"TableName": table, **rest}) if rest else single("DescribeTable", params)
            )
            if status >= 300:
                return status, answer
            description = answer.get("TableDescription") or answer.get("Table") or {}
            keys = self.key_names(table, single)
            return 200, {"TableDescription": description | streams.enable(table, params["StreamSpecification"], keys)}
        if call.operation == "DescribeTable" and streams.has_stream(table):
            status, answer = single("DescribeTable", params)
            if status < 300:
                answer["Table"] |= streams.describe_fields(table)
            return status, answer
        return None

    def batch_execute_statement(
        self, call: Call, path: str, headers: Mapping[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """DynamoDB PartiQL batches, statement by statement (see :mod:`local.partiql`); a statement
        that writes to a table with a stream is recorded in it."""
        single = self.table_streams.recording(self.dynamodb_single(path, headers))

        def key_of(table: str) -> list[str]:
            try:
                return self.key_names(table, single)
            except LookupError as exc:
                raise partiql.UnsupportedStatement(str(exc)) from exc

        def fault_for(operation: str, params: dict[str, Any]) -> tuple[str | None, float]:
            fault = self.faults.pick("dynamodb", operation, params)
            if fault is None:
                return None, 0.0
            return fault.error, fault.latency_ms / 1000.0

        status, answer = partiql.batch_execute_statement(call.params, single, key_of, fault_for, self._statements.map)
        return status, _json_headers(), partiql.encode(answer)

    def backend_for(self, service: str) -> Backend:
        if service == "kinesis":
            return self.kinesis
        return self.dynamodb if service == "dynamodb" else self.default

    # --- Kinesis shard maps ----------------------------------------------------------

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
        status, _, data = self.forward(self.kinesis, "POST", "/", sent, json.dumps(params).encode())
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
        """UpdateShardCount, which kinesalite lacks, as the splits and merges AWS makes (local.reshard)."""
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
        return 200, _json_headers(), json.dumps(answer).encode()

    def describe_stream(self, call: Call, request: Request) -> Answer:
        """DescribeStream(Summary), with what kinesalite does not know: UPDATING while a scaling runs,
        the stream's mode, its registered consumers."""
        status, response_headers, data = self.forward(self.kinesis, "POST", request.path, request.headers, request.body)
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
        return 200, _without_length(response_headers), json.dumps(answer).encode()

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
            self.kinesis, "POST", request.path, request.headers, json.dumps(params).encode()
        )
        if status == 200 and isinstance(params.get("StreamName"), str):
            self.stream_modes[params["StreamName"]] = mode
        return status, response_headers, data

    def delete_stream(self, call: Call, request: Request) -> Answer:
        """DeleteStream; its consumers go with it."""
        status, response_headers, data = self.forward(self.kinesis, "POST", request.path, request.headers, request.body)
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
        return 200, _json_headers("1.1"), json.dumps(answer).encode()

    def subscribe_to_shard(self, call: Call, request: Request) -> Answer:
        """SubscribeToShard: the shard's records pushed over an event stream (local.kinesis_subscribe)."""
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
                yield from kinesis_subscribe.subscription(get_records, answer["ShardIterator"], continuation)
            finally:
                with self._scaling_lock:
                    self._subscribed.discard(key)

        headers = [("Content-Type", kinesis_subscribe.CONTENT_TYPE), ("x-amzn-RequestId", str(uuid.uuid4()))]
        return 200, headers, messages()

    def sqs_call(self, call: Call, request: Request) -> Answer:
        """SQS: a batch call SQS refuses whole is refused before moto sees it (local.sqs_batches)."""
        refused = sqs_batches.refusal(call.operation, call.params, call.json_protocol)
        if refused is not None:
            short = refused.code.rsplit(".", 1)[-1]
            extra, payload = error_body(call, short, refused.message, 400, query_code=refused.code)
            return 400, extra, payload
        return self.forward_call(call, request)

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

    # --- PutRecord(s): faults per entry and shard limits, then forward the rest ---------

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
            return self.forward(self.kinesis, "POST", path, headers, body)
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
            return self.forward(self.kinesis, "POST", path, headers, body)
        kept = [i for i in range(len(entries)) if i not in rejected]
        results: list[dict[str, Any]] = [{} for _ in entries]
        status, response_headers = 200, [("Content-Type", "application/x-amz-json-1.1")]
        if kept:
            params = dict(call.params)
            params["Records"] = [entries[i] for i in kept]
            status, response_headers, data = self.forward(
                self.kinesis, "POST", path, headers, json.dumps(params).encode()
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
        status, response_headers, data = self.forward(self.kinesis, "POST", request.path, request.headers, request.body)
        self.count_written(call, status, data)
        return status, response_headers, data

    def read(self, call: Call, request: Request) -> Answer:
        """GetShardIterator and GetRecords, within the shard's shared read limits (local.limits)."""
        limiter, headers = self.read_limiter, request.headers
        if not limiter.enabled:  # nothing to count: no answer is read (a reader is followed again
            # from its next GetShardIterator once the limits are back on)
            return self.forward(self.kinesis, "POST", request.path, headers, request.body)
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
        status, response_headers, data = self.forward(self.kinesis, "POST", request.path, headers, request.body)
        if status == 200 and shard is not None:
            answer = json.loads(data or b"{}")
            limiter.note(answer.get("ShardIterator") or answer.get("NextShardIterator"), shard)
            if call.operation == "GetRecords":
                limiter.charge(shard, sum(len(r.get("Data", "")) * 3 // 4 for r in answer.get("Records", [])))
        return status, response_headers, data


def _by_stream_name(call: Call, request: Request) -> tuple[Call, Request]:
    """A Kinesis call that names its stream by StreamARN, as kinesalite takes it: by StreamName. AWS
    takes either on every stream operation; kinesalite answers a call without StreamName as if no
    stream were named."""
    arn = call.params.get("StreamARN")
    if not isinstance(arn, str) or "StreamName" in call.params:
        return call, request
    params = {k: v for k, v in call.params.items() if k != "StreamARN"} | {"StreamName": _stream_name(arn)}
    body = json.dumps(params).encode()
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return Call(call.service, call.operation, params, call.json_protocol), Request(
        request.method, request.path, headers, body, request.fault
    )


def _as_aws_words(status: int, data: bytes) -> bytes:
    """A failed condition's error as AWS words it: its text under "Message", where dynalite and moto
    write "message" (recorded against AWS: the response has no "message" member; a ResourceNotFound's
    has, so only this error is changed)."""
    if status != 400 or b"ConditionalCheckFailedException" not in data:
        return data
    answer = json.loads(data)
    if "message" in answer:
        answer["Message"] = answer.pop("message")
    return json.dumps(answer).encode()


def _without_length(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() not in {"content-length", "x-amz-crc32"}]


# Both kinesalite and this gateway write FailedRecordCount first; anything else is parsed in full.
_FAILED_RECORD_COUNT = re.compile(rb'\{\s*"FailedRecordCount"\s*:\s*(\d+)')


def _json_headers(version: str = "1.0") -> list[tuple[str, str]]:
    return [("Content-Type", f"application/x-amz-json-{version}"), ("x-amzn-RequestId", str(uuid.uuid4()))]


def _stream_param(stream: str) -> dict[str, str]:
    return {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}


def _stream_name(stream: str) -> str:
    return stream.rsplit("/", 1)[-1]


def error_body(
    call: Call, code: str, message: str, status: int, query_code: str | None = None
) -> tuple[list[tuple[str, str]], bytes]:
    """An error in the wire format the caller's protocol expects. ``query_code`` is the code a service
    that began on the query protocol answers in x-amzn-query-error (SQS's AWS.SimpleQueueService.*)."""
    request_id = str(uuid.uuid4())
    if call.json_protocol:
        content_type = "application/x-amz-json-1.1" if call.service == "kinesis" else "application/x-amz-json-1.0"
        body = json.dumps({"__type": code, "message": message}).encode()
        return [
            ("Content-Type", content_type),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-query-error", f"{query_code or code};{'Receiver' if status >= 500 else 'Sender'}"),
        ], body
    if call.service == "s3":
        xml = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        return [("Content-Type", "application/xml")], xml.encode()
    kind = "Receiver" if status >= 500 else "Sender"
    xml = (
        f"<ErrorResponse><Error><Type>{kind}</Type><Code>{query_code or code}</Code>"
        f"<Message>{message}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return [("Content-Type", "text/xml")], xml.encode()


class _Handler(LoopbackHandler):
    server: GatewayServer

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self, status: int, payload: Any) -> None:
        self.reply(status, [("Content-Type", "application/json")], json.dumps(payload).encode())

    def handle_request(self) -> None:
        try:
            body = self._read_body()
            if self.path.startswith("/_weir/"):
                self._control(body)
                return
            self._proxy(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a gateway bug must answer, not hang the client
            log.exception("gateway error")
            self._json(500, {"message": f"gateway error: {exc}"})

    def _proxy(self, body: bytes) -> None:
        gateway = self.server.gateway
        headers = dict(self.headers.items())
        call = describe_call(self.command, self.path, headers, body)
        fault = gateway.faults.pick(call.service, call.operation, call.params)
        if fault is not None and not fault.per_entry:
            if fault.latency_ms:
                time.sleep(fault.latency_ms / 1000.0)
            if fault.drop:
                self._drop()
                return
            if fault.error:
                extra, payload = error_body(call, fault.error, fault.message or "Injected fault", fault.status)
                self.reply(fault.status, extra, payload)
                return
        request = Request(self.command, self.path, headers, body, fault)
        status, response_headers, data = gateway.route(call)(call, request)
        if isinstance(data, bytes):
            self.reply(status, response_headers, data)
        else:
            self.reply_streamed(status, response_headers, data)

    def _drop(self) -> None:
        """Close the connection with a TCP reset and no answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _control(self, body: bytes) -> None:
        gateway = self.server.gateway
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/_weir/health":
            self._json(200, {"status": "ok"})
        elif path == "/_weir/faults" and self.command == "GET":
            self._json(200, {"faults": gateway.faults.list()})
        elif path == "/_weir/faults" and self.command == "POST":
            try:
                added = gateway.faults.add_all(json.loads(body or b"null"))
            except (ValueError, FaultError) as exc:
                self._json(400, {"message": f"invalid fault: {exc}"})
                return
            ids = [f.id for f in added]
            self._json(201, {"id": ids[0]} if len(ids) == 1 else {"ids": ids})
        elif path == "/_weir/faults" and self.command == "DELETE":
            self._json(200, {"removed": gateway.faults.remove()})
        elif path.startswith("/_weir/faults/") and self.command == "DELETE":
            removed = gateway.faults.remove(path.rsplit("/", 1)[-1])
            self._json(200 if removed else 404, {"removed": removed})
        elif path == "/_weir/stats" and self.command == "GET":
            self._json(200, {"kinesis_records_written": gateway.written()})
        elif path == "/_weir/limits" and self.command == "GET":
            limiter = gateway.limiter
            self._json(
                200,
                {
                    "enabled": limiter.enabled,
                    "records_per_second": limiter.records_per_second,
                    "bytes_per_second": limiter.bytes_per_second,
                    "admitted": limiter.admitted,
                    "throttled": limiter.throttled,
                    "reads_admitted": gateway.read_limiter.admitted,
                    "reads_throttled": gateway.read_limiter.throttled,
                },
            )
        elif path == "/_weir/limits" and self.command == "PUT":
            try:
                spec = json.loads(body or b"{}")
                limiter = gateway.limiter
                limiter.configure(
                    float(spec.get("records_per_second", limiter.records_per_second)),
                    float(spec.get("bytes_per_second", limiter.bytes_per_second)),
                    bool(spec.get("enabled", limiter.enabled)),
                )
                gateway.read_limiter.enabled = limiter.enabled
            except (ValueError, TypeError, AttributeError) as exc:
                self._json(400, {"message": f"invalid limits: {exc}"})
                return
            self._json(200, {"enabled": gateway.limiter.enabled})
        else:
            self._json(404, {"message": f"no control endpoint {self.command} {path}"})


class GatewayServer(LoopbackServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        super().__init__(address, _Handler)
        self.gateway = gateway

    def server_close(self) -> None:
        super().server_close()
        self.gateway.close()
