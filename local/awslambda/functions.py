"""Lambda functions, run locally: the real handler file in worker processes.

Each worker is a separate Python process (as an execution environment is): it gets the environment
template.yaml gives the function, the layer's content on its import path (Lambda's /opt/python), a
Lambda context whose remaining time is real, and it is killed when the function's timeout passes
(the next invocation then meets a cold start, as in AWS). A pool per function holds at most
``concurrency`` workers; reserved concurrency is that cap.
"""

from __future__ import annotations

import contextlib
import importlib.util
import multiprocessing
import multiprocessing.connection
import os
import secrets
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.cloudformation.deployer import LocalFunction

_CONTEXT = multiprocessing.get_context("spawn")


@dataclass
class Invocation:
    ok: bool
    payload: Any
    duration: float
    timed_out: bool = False


class _Context:
    def __init__(self, function: dict[str, Any], deadline: float, request_id: str) -> None:
        self.function_name = function["name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = function["arn"]
        self.memory_limit_in_mb = function["memory"]
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function['name']}"
        self.log_stream_name = "local"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _worker_main(
    conn: multiprocessing.connection.Connection, function: dict[str, Any], env: dict[str, str], paths: list[str]
) -> None:
    os.environ.clear()
    os.environ.update(env)
    log_file = env.get("WEIR_LOCAL_LOG_FILE")
    if log_file:
        # Where Lambda sends a function's output: its own log (a log group in AWS), not the caller's terminal.
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(handle, 1)
        os.dup2(handle, 2)
        os.close(handle)
    for path in reversed(paths):
        sys.path.insert(0, path)
    spec = importlib.util.spec_from_file_location(f"lambda_{function['logical_id']}", function["handler_path"])
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = getattr(module, function["handler"])
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        event, deadline, request_id = message
        # Lambda's trace header for the invocation (a new trace: the local API and mappings pass none)
        os.environ["_X_AMZN_TRACE_ID"] = trace_header()
        try:
            result = handler(event, _Context(function, deadline, request_id))
            conn.send(("ok", result))
        except Exception as exc:  # noqa: BLE001 - reported to the caller as Lambda reports a function error
            conn.send(
                (
                    "error",
                    {
                        "errorType": type(exc).__name__,
                        "errorMessage": str(exc),
                        "stackTrace": traceback.format_exception(exc)[-5:],
                    },
                )
            )


def trace_header() -> str:
    """An X-Ray trace header as Lambda sets it: ``Root=1-<time, 8 hex>-<24 random hex>;Parent=<16 hex>``.
    Not sampled: nothing records a trace locally."""
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"


class _Worker:
    def __init__(self, function: LocalFunction, env: dict[str, str], paths: list[str]) -> None:
        self.parent, child = _CONTEXT.Pipe()
        spec = {
            "logical_id": function.logical_id,
            "name": function.name,
            "arn": function.arn,
            "memory": function.memory,
            "handler_path": str(function.handler_path),
            "handler": function.handler,
        }
        self.process = _CONTEXT.Process(target=_worker_main, args=(child, spec, env, paths), daemon=True)
        self.process.start()
        child.close()
        if not self.parent.poll(60):
            self.kill()
            raise RuntimeError(f"{function.name}: worker did not start within 60 s")
        status, _ = self.parent.recv()
        if status != "ready":
            raise RuntimeError(f"{function.name}: worker failed to start")

    def invoke(self, event: Any, timeout: float) -> Invocation:
        started = time.time()
        request_id = str(uuid.uuid4())
        self.parent.send((event, started + timeout, request_id))
        if not self.parent.poll(timeout):
            self.kill()
            message = f"{request_id} Task timed out after {timeout:.2f} seconds"
            return Invocation(False, {"errorType": "Sandbox.Timedout", "errorMessage": message}, timeout, True)
        try:
            status, payload = self.parent.recv()
        except EOFError:
            self.kill()
            return Invocation(
                False, {"errorType": "Runtime.ExitError", "errorMessage": "worker exited"}, time.time() - started
            )
        return Invocation(status == "ok", payload, time.time() - started)

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.parent.send(None)
        self.process.join(2)
        self.kill()


class ThrottledError(Exception):
    """No execution environment free within the function's concurrency (Lambda's 429)."""


class FunctionPool:
    """Warm workers of one function, at most ``concurrency`` at a time."""

    def __init__(self, function: LocalFunction, env: dict[str, str], paths: list[Path], concurrency: int) -> None:
        self.function = function
        self.env = env
        self.paths = [str(p) for p in paths]
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.invocations = 0
        self.throttles = 0
        self._all: list[_Worker] = []

    def warm(self, count: int) -> None:
        """Start ``count`` workers (at most the concurrency), side by side, before any invoke."""
        count = min(count, self.concurrency)
        workers: list[_Worker] = []
        starters = [threading.Thread(target=lambda: workers.append(self._new_worker())) for _ in range(count)]
        for thread in starters:
            thread.start()
        for thread in starters:
            thread.join()
        if len(workers) < count:
            raise RuntimeError(f"{self.function.name}: {count - len(workers)} of {count} workers did not start")
        with self._lock:
            self._idle.extend(workers)

    def _new_worker(self) -> _Worker:
        worker = _Worker(self.function, self.env, self.paths)
        with self._lock:
            self._all.append(worker)
        return worker

    def invoke(self, event: Any, wait: float | None = None) -> Invocation:
        """Invoke once. ``wait=None`` waits for a free slot (an event source mapping's poller does);
        a number fails with :class:`ThrottledError` after that long (synchronous callers)."""
        acquired = self._slots.acquire(timeout=wait) if wait is not None else self._slots.acquire()
        if not acquired:
            with self._lock:
                self.throttles += 1
            raise ThrottledError(f"{self.function.name}: concurrency {self.concurrency} in use")
        try:
            with self._lock:
                self.in_flight += 1
                self.invocations += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                worker = self._idle.pop() if self._idle else None
            if worker is None or not worker.alive():
                worker = self._new_worker()
            result = worker.invoke(event, float(self.function.timeout))
            if worker.alive():
                with self._lock:
                    self._idle.append(worker)
            return result
        finally:
            with self._lock:
                self.in_flight -= 1
            self._slots.release()

    def stop(self) -> None:
        with self._lock:
            workers, self._all, self._idle = list(self._all), [], []
        for worker in workers:
            worker.stop()
