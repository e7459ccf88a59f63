"""The Lambda API of the local stack, on the local endpoint: Invoke and the event source mappings.

So that tools take one path locally and in AWS: ``aws lambda invoke --function-name
<RedriveFunctionName>`` and ``aws lambda update-event-source-mapping --uuid ... --no-enabled``
work against ``make up`` as against a deployed stack. Served for the stack's own functions and
mappings only (REST-JSON, the paths of Lambda's 2015-03-31 API); anything else answers
ResourceNotFoundException as Lambda does for a function that is not there.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any

from local.awslambda.esm import EventSourceMapping
from local.awslambda.functions import FunctionPool, ThrottledError

Response = tuple[int, list[tuple[str, str]], bytes]

_MAPPINGS = re.compile(r"^/2015-03-31/event-source-mappings/?$")
_MAPPING = re.compile(r"^/2015-03-31/event-source-mappings/([0-9a-f-]+)$")
_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")

# UpdateEventSourceMapping fields and the emulator's settings they change.
_UPDATABLE = {
    "BatchSize": ("batch_size", int),
    "MaximumBatchingWindowInSeconds": ("window_seconds", float),
    "MaximumRetryAttempts": ("max_retries", int),
    "MaximumRecordAgeInSeconds": ("max_record_age", int),
    "BisectBatchOnFunctionError": ("bisect", bool),
}


class LambdaApi:
    def __init__(self, pools: Mapping[str, FunctionPool], mappings: list[EventSourceMapping]) -> None:
        self._functions = {pool.function.name: pool for pool in pools.values()}
        self._functions |= {pool.function.arn: pool for pool in pools.values()}
        self._mappings = {m.settings.uuid: m for m in mappings}

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        route = path.split("?", 1)[0]
        query = (
            dict(part.split("=", 1) for part in path.split("?", 1)[1].split("&") if "=" in part) if "?" in path else {}
        )
        if _MAPPINGS.match(route) and method == "GET":
            function = query.get("FunctionName")
            found = [
                self._describe(m)
                for m in self._mappings.values()
                if function is None or function in (m.pool.function.name, m.settings.function_arn)
            ]
            return _json(200, {"EventSourceMappings": found})
        if match := _MAPPING.match(route):
            mapping = self._mappings.get(match.group(1))
            if mapping is None:
                return _error(404, "ResourceNotFoundException", f"event source mapping {match.group(1)} not found")
            if method == "GET":
                return _json(200, self._describe(mapping))
            if method == "PUT":
                return self._update(mapping, json.loads(body or b"{}"))
        if (match := _INVOKE.match(route)) and method == "POST":
            return self._invoke(match.group(1), headers.get("X-Amz-Invocation-Type", "RequestResponse"), body)
        return _error(404, "ResourceNotFoundException", f"{method} {route} is not served by the local Lambda API")

    def _update(self, mapping: EventSourceMapping, request: dict[str, Any]) -> Response:
        unknown = set(request) - {*_UPDATABLE, "Enabled", "FunctionResponseTypes", "DestinationConfig", "UUID"}
        if unknown:
            message = f"not applied by the local runtime while it runs: {sorted(unknown)}"
            return _error(400, "InvalidParameterValueException", message)
        settings: dict[str, Any] = {
            name: cast(request[key]) for key, (name, cast) in _UPDATABLE.items() if key in request
        }
        if "FunctionResponseTypes" in request:
            settings["report_item_failures"] = "ReportBatchItemFailures" in request["FunctionResponseTypes"]
        if "DestinationConfig" in request:
            settings["destination_arn"] = request["DestinationConfig"].get("OnFailure", {}).get("Destination")
        enabled = request.get("Enabled")
        mapping.update(enabled=None if enabled is None else bool(enabled), **settings)
        return _json(202, self._describe(mapping))

    def _invoke(self, name: str, kind: str, body: bytes) -> Response:
        pool = self._functions.get(name.replace("%3A", ":"))
        if pool is None:
            return _error(404, "ResourceNotFoundException", f"Function not found: {name}")
        event = json.loads(body) if body else {}
        if kind == "DryRun":
            return 204, [], b""
        if kind == "Event":
            threading.Thread(target=pool.invoke, args=(event,), name=f"invoke-{name}", daemon=True).start()
            return 202, [], b""
        try:
            result = pool.invoke(event, wait=0)
        except ThrottledError as exc:
            return _error(429, "TooManyRequestsException", str(exc))
        headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")]
        if not result.ok:
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        return 200, headers, json.dumps(result.payload).encode()

    @staticmethod
    def _describe(mapping: EventSourceMapping) -> dict[str, Any]:
        s = mapping.settings
        return {
            "UUID": s.uuid,
            "EventSourceArn": s.stream_arn,
            "FunctionArn": s.function_arn,
            "StartingPosition": s.starting_position,
            "BatchSize": s.batch_size,
            "MaximumBatchingWindowInSeconds": int(s.window_seconds),
            "ParallelizationFactor": s.parallelization,
            "MaximumRetryAttempts": s.max_retries,
            "MaximumRecordAgeInSeconds": s.max_record_age,
            "BisectBatchOnFunctionError": s.bisect,
            "FunctionResponseTypes": ["ReportBatchItemFailures"] if s.report_item_failures else [],
            "DestinationConfig": {"OnFailure": {"Destination": s.destination_arn} if s.destination_arn else {}},
            "TumblingWindowInSeconds": int(s.tumbling_window),
            "State": mapping.state,
            "StateTransitionReason": "User action",
            "LastModified": mapping.last_modified,
            "LastProcessingResult": "OK" if mapping.stats.invocations else "No records processed",
        }


def _json(status: int, payload: Any) -> Response:
    return status, [("Content-Type", "application/json")], json.dumps(payload).encode()


def _error(status: int, code: str, message: str) -> Response:
    headers = [("Content-Type", "application/json"), ("X-Amzn-ErrorType", code)]
    return status, headers, json.dumps({"Type": "User", "message": message}).encode()
