"""The local runtime never loses what AWS would keep, and never listens beyond loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.awslambda.functions import Invocation
from tests.e2e.test_esm_fidelity import Harness
from tests.endpoint import LocalEndpoint, listening_addresses, process_tree

pytestmark = pytest.mark.e2e


@pytest.fixture
def harness(endpoint: LocalEndpoint, tmp_path: Path) -> Iterator[Harness]:
    running = Harness(endpoint, tmp_path / "invocations.jsonl")
    yield running
    running.stop()


def test_an_error_of_the_emulator_itself_does_not_drop_the_batch(harness: Harness) -> None:
    # GIVEN a worker pool whose first invocation fails inside the emulator (not in the function)
    harness.put([{"id": i} for i in range(3)])
    mapping = harness.start(window_seconds=0)
    original = mapping.pool.invoke
    calls = {"n": 0}

    def first_fails(event: Any, wait: float | None = None) -> Invocation:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("worker did not start")
        return original(event, wait)

    mapping.pool.invoke = first_fails  # type: ignore[method-assign]
    harness.wait_idle(quiet_seconds=1)
    # THEN the lane kept the batch and tried again: every record delivered, the error counted
    assert sorted(i for call in harness.invocations() for i in call["ids"]) == [0, 1, 2]
    assert mapping.stats.emulator_errors == 1
    assert mapping.stats.records_processed == 3


def test_a_destination_that_cannot_be_written_is_retried_until_it_can(harness: Harness) -> None:
    # GIVEN an SQS destination that does not exist yet, and a record that fails every time
    harness.put([{"action": "raise"}])
    missing = harness.endpoint.unique("later")
    mapping = harness.start(
        window_seconds=0, max_retries=0, bisect=False, destination=f"arn:aws:sqs:us-east-1:123456789012:{missing}"
    )
    deadline = time.monotonic() + 15
    while mapping.stats.destination_delivery_failures == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mapping.stats.destination_delivery_failures > 0
    # WHEN the queue appears
    url = harness.sqs.create_queue(QueueName=missing)["QueueUrl"]
    # THEN the failure record arrives: nothing was dropped while it could not be written
    deadline = time.monotonic() + 15
    messages: list[Any] = []
    while not messages and time.monotonic() < deadline:
        messages = harness.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
    assert len(messages) == 1
    assert mapping.stats.records_to_destination == 1


def test_read_ahead_is_bounded_under_a_backlog(harness: Harness) -> None:
    # GIVEN a backlog far larger than a batch, and a slow function
    harness.put([{"sleep": 0.02} for _ in range(500)])
    mapping = harness.start(window_seconds=0, batch_size=5)
    # THEN no lane ever holds more than two batches ahead of the one in flight
    # (watched for 2 s, and on a busy machine until the function has processed some: its first worker
    # can take longer than that to start)
    peak = 0
    started = time.monotonic()
    while time.monotonic() - started < 2 or (mapping.stats.records_processed == 0 and time.monotonic() - started < 60):
        for lanes in mapping.lanes.values():
            for lane in lanes:
                peak = max(peak, len(lane.buffer))
        time.sleep(0.01)
    assert 0 < peak <= 2 * 5
    assert mapping.stats.records_processed > 0  # it was moving all along


def test_nothing_of_the_local_runtime_listens_beyond_loopback(endpoint: LocalEndpoint) -> None:
    assert endpoint.pid is not None
    pids = process_tree(endpoint.pid)
    assert len(pids) >= 3  # the endpoint, kinesalite, moto server
    addresses = listening_addresses(pids)
    ports = {port for _, port in addresses}
    assert len(ports) >= 3, addresses  # the gateway, kinesalite and moto each listen
    assert all(address == "127.0.0.1" for address, _ in addresses), addresses


class CountingBackend:
    """A loopback HTTP backend that counts requests; ``hang_up`` reads a request and closes
    without an answer (as a backend that applied it and then died would), else it answers 200 and
    closes the connection when idle."""

    def __init__(self, hang_up: bool) -> None:
        self.requests = 0
        self.hang_up = hang_up
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            with client:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = client.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if not data:
                    continue
                self.requests += 1
                if not self.hang_up:
                    client.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                    time.sleep(0.05)  # then close: the kept-alive connection goes stale

    def close(self) -> None:
        self.server.close()


def test_the_gateway_never_sends_a_request_twice_but_replaces_a_stale_connection() -> None:
    from local.gateway import Gateway
    from local.wire import Backend

    # GIVEN a backend that takes a PutRecords and hangs up without answering
    dying = CountingBackend(hang_up=True)
    gateway = Gateway(kinesis=Backend("127.0.0.1", dying.port), default=Backend("127.0.0.1", dying.port))
    try:
        with pytest.raises((ConnectionError, OSError)):
            gateway.forward(gateway.kinesis, "POST", "/", {"X-Amz-Target": "Kinesis_20131202.PutRecords"}, b"{}")
        time.sleep(0.1)
        # THEN it was sent once: the backend may have applied it, so the gateway does not resend
        assert dying.requests == 1
    finally:
        dying.close()
    # GIVEN a backend that closes idle kept-alive connections
    closing = CountingBackend(hang_up=False)
    gateway = Gateway(kinesis=Backend("127.0.0.1", closing.port), default=Backend("127.0.0.1", closing.port))
    try:
        for _ in range(3):
            status, _, _ = gateway.forward(gateway.default, "POST", "/", {}, b"{}")
            assert status == 200
            time.sleep(0.2)  # the backend has closed the connection by now
        # THEN each request went out exactly once, on a fresh connection when the old one was stale
        assert closing.requests == 3
    finally:
        closing.close()
