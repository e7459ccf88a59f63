"""DynamoDB on the local endpoint: dynalite behind what the gateway adds to it.

Transactions (:mod:`local.dynamodb.transactions`), PartiQL (:mod:`local.dynamodb.partiql`), the tables'
change streams (:mod:`local.dynamodb.streams`), TTL and ReturnValuesOnConditionCheckFailure
(:mod:`local.dynamodb.gaps`), and errors worded as AWS words them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local.dynamodb import partiql
from local.dynamodb.gaps import TTL_OPERATIONS, DynaliteGaps
from local.dynamodb.streams import STREAMS_TARGET_PREFIX, WRITES, TableStreams
from local.dynamodb.transactions import TRANSACTIONS, TableLock, Transactions
from local.faults import FaultSet
from local.wire import Answer, Backend, Call, Forwarder, Request, Route, SingleCall, json_headers, without_length
from tools.template import LOCAL_ACCOUNT_ID, LOCAL_REGION


class DynamoDBApi:
    def __init__(self, backend: Backend, forwarder: Forwarder, faults: FaultSet, *, fills_gaps: bool) -> None:
        self.backend = backend
        self.forward = forwarder.forward
        self.faults = faults
        # dynalite's gaps (TTL, the old item of a failed condition); none for moto's DynamoDB.
        self.dynalite_gaps = DynaliteGaps() if fills_gaps else None
        # DynamoDB Streams of the tables that have one: neither backend has them.
        self.table_streams = TableStreams(region=LOCAL_REGION, account=LOCAL_ACCOUNT_ID)
        # Single calls hold it shared, a transaction exclusively: a transaction runs alone.
        self.table_lock = TableLock()
        self._transaction_tokens: dict[str, tuple[float, str]] = {}
        # A batch's statements go to DynamoDB side by side (up to a whole batch at once), so the
        # single-threaded backend is never idle waiting for this process between statements.
        self._statements = ThreadPoolExecutor(max_workers=25, thread_name_prefix="statement")
        self._key_names: dict[str, list[str]] = {}

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("dynamodb", "*"): self.call}

    def close(self) -> None:
        self._statements.shutdown(wait=False, cancel_futures=True)

    def single_call(self, path: str, headers: Mapping[str, str]) -> SingleCall:
        """A single DynamoDB call to the backend, signed as the client's request was."""

        def single(operation: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            sent = {k: v for k, v in headers.items() if k.lower() != "x-amz-target"}
            sent["X-Amz-Target"] = f"DynamoDB_20120810.{operation}"
            status, _, data = self.forward(self.backend, "POST", path, sent, json.dumps(params).encode())
            answer = json.loads(data or b"{}")
            return status, answer if isinstance(answer, dict) else {}

        return single

    def key_names(self, table: str, single: SingleCall) -> list[str]:
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

    def call(self, call: Call, request: Request) -> Answer:
        """Every DynamoDB call: transactions and PartiQL emulated, dynalite's gaps filled, table streams
        kept and answered, the rest forwarded; a transaction runs alone (local.dynamodb.transactions)."""
        if request.headers.get("X-Amz-Target", "").startswith(STREAMS_TARGET_PREFIX):
            status, answer = self.table_streams.answer(call.operation, call.params)
            return status, json_headers(), json.dumps(answer, default=str).encode()
        if call.operation in TRANSACTIONS:
            with self.table_lock.exclusive():
                status, answer = self.transaction(call, request)
            return status, json_headers(), json.dumps(answer).encode()
        with self.table_lock.shared():
            status, response_headers, data = self._dynamodb_call(call, request)
        worded = as_aws_words(status, data)
        if worded is not data:  # the backend's checksum was of the body it wrote
            return status, without_length(response_headers), worded
        return status, response_headers, data

    def transaction(self, call: Call, request: Request) -> tuple[int, dict[str, Any]]:
        single = self.single_call(request.path, request.headers)
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
            single = self.table_streams.recording(self.single_call(path, headers))
            status, answer = partiql.execute_statement(call.params, single, lambda table: self.key_names(table, single))
            return status, json_headers(), json.dumps(answer).encode()
        gaps = self.dynalite_gaps
        if gaps is not None and call.operation in TTL_OPERATIONS:
            status, answer = gaps.time_to_live(call.operation, call.params, self.single_call(path, headers))
            return status, json_headers(), json.dumps(answer).encode()
        streamed = self.stream_call(call, path, headers)
        if streamed is not None:
            status, answer = streamed
            if gaps is not None and gaps.wants_old_item(call.operation, call.params):
                single = self.single_call(path, headers)
                completed = gaps.add_old_item(
                    call.operation,
                    call.params,
                    status,
                    json.dumps(answer).encode(),
                    single,
                    lambda table: self.key_names(table, single),
                )
                return status, json_headers(), completed
            return status, json_headers(), json.dumps(answer).encode()
        status, response_headers, data = self.forward(self.backend, method, path, headers, body)
        if gaps is not None and gaps.wants_old_item(call.operation, call.params):
            single = self.single_call(path, headers)
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
        single = self.single_call(path, headers)
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
        """DynamoDB PartiQL batches, statement by statement (see :mod:`local.dynamodb.partiql`); a statement
        that writes to a table with a stream is recorded in it."""
        single = self.table_streams.recording(self.single_call(path, headers))

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
        return status, json_headers(), partiql.encode(answer)


def as_aws_words(status: int, data: bytes) -> bytes:
    """A failed condition's error as AWS words it: its text under "Message", where dynalite and moto
    write "message" (recorded against AWS: the response has no "message" member; a ResourceNotFound's
    has, so only this error is changed)."""
    if status != 400 or b"ConditionalCheckFailedException" not in data:
        return data
    answer = json.loads(data)
    if "message" in answer:
        answer["Message"] = answer.pop("message")
    return json.dumps(answer).encode()
