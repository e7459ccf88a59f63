"""The local AWS endpoint: kinesalite, dynalite and moto server behind the gateway, as one process tree.

``python -m local.endpoint [--port 4566]`` starts kinesalite (Kinesis), dynalite (DynamoDB, in
memory; ``--dynamodb moto`` serves it from moto instead) and moto server (every other service) on
private loopback ports, and the gateway on ``--port``. It prints one JSON
line ``{"ready": true, "endpoint": "http://127.0.0.1:4566", ...}`` when every part answers, then
serves until SIGINT or SIGTERM, and stops its children on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from local.faults import FaultError, load_profile
from local.gateway import Gateway, GatewayServer
from local.kinesis.limits import ShardWriteLimiter
from local.wire import Backend
from tools.template import LOCAL_ACCOUNT_ID, LOCAL_REGION

ROOT = Path(__file__).resolve().parent.parent
KINESALITE = ROOT / "local" / "node_modules" / "kinesalite" / "index.js"
KINESALITE_LAUNCHER = ROOT / "local" / "kinesis" / "kinesalite.js"
# moto server with the percentile statistics CloudWatch has (local/cloudwatch/moto_server.py).
MOTO_SERVER = Path(__file__).resolve().parent / "cloudwatch" / "moto_server.py"
DYNALITE = ROOT / "local" / "node_modules" / "dynalite" / "index.js"
DYNALITE_LAUNCHER = ROOT / "local" / "dynamodb" / "dynalite.js"
# Who serves DynamoDB: dynalite (the default; decision 0008) or moto server.
DYNAMODB_BACKENDS = ("dynalite", "moto")
HOST = "127.0.0.1"
DEFAULT_PORT = 4566


class EndpointError(RuntimeError):
    pass


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, SIGTERM it when the process that started it dies,
    so a crashed runtime leaves no kinesalite or moto server behind."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EndpointError(f"{name} exited with code {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise EndpointError(f"{name} did not listen on {HOST}:{port} within {timeout:.0f} s")


class Endpoint:
    """kinesalite + dynalite + moto server + gateway. ``start`` then ``stop``; usable as a context manager."""

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        limits_enabled: bool = True,
        log_dir: Path | None = None,
        faults: list[dict[str, object]] | None = None,
        dynamodb: str = "dynalite",
    ) -> None:
        if dynamodb not in DYNAMODB_BACKENDS:
            raise EndpointError(f"dynamodb must be one of {', '.join(DYNAMODB_BACKENDS)}, not {dynamodb!r}")
        self.dynamodb = dynamodb
        self.port = port
        self.initial_faults = faults or []
        self.limits_enabled = limits_enabled
        self.log_dir = log_dir
        self.children: list[subprocess.Popen[bytes]] = []
        self.server: GatewayServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        output = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = (self.log_dir / f"{name}.log").open("wb")  # type: ignore[assignment]
        # kinesalite names its streams' ARNs with AWS_ACCOUNT_ID and AWS_REGION: the stack's own.
        environment = os.environ | {"AWS_ACCOUNT_ID": LOCAL_ACCOUNT_ID, "AWS_REGION": LOCAL_REGION}
        process = subprocess.Popen(
            argv,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
            env=environment,
        )
        self.children.append(process)
        return process

    def start(self) -> Endpoint:
        if not KINESALITE.exists():
            raise EndpointError(f"kinesalite is not installed at {KINESALITE}; run `make setup`")
        if self.dynamodb == "dynalite" and not DYNALITE.exists():
            raise EndpointError(f"dynalite is not installed at {DYNALITE}; run `make setup`")
        kinesis_port, moto_port = free_port(), free_port()
        # Through local/kinesis/kinesalite.js and local/dynamodb/dynalite.js, which bind 127.0.0.1 (their command
        # lines bind every interface).
        kinesalite = self._spawn("kinesalite", ["node", str(KINESALITE_LAUNCHER), str(kinesis_port)])
        moto = self._spawn("moto", [sys.executable, str(MOTO_SERVER), "-H", HOST, "-p", str(moto_port)])
        dynamodb = Backend(HOST, moto_port)
        try:
            if self.dynamodb == "dynalite":
                dynamodb_port = free_port()
                dynalite = self._spawn("dynalite", ["node", str(DYNALITE_LAUNCHER), str(dynamodb_port)])
                dynamodb = Backend(HOST, dynamodb_port)
                wait_for_port(dynamodb_port, dynalite, "dynalite")
            wait_for_port(kinesis_port, kinesalite, "kinesalite")
            wait_for_port(moto_port, moto, "moto server")
            gateway = Gateway(
                kinesis=Backend(HOST, kinesis_port),
                default=Backend(HOST, moto_port),
                dynamodb=dynamodb,
                limiter=ShardWriteLimiter(enabled=self.limits_enabled),
            )
            gateway.faults.add_all(self.initial_faults)
            self.server = GatewayServer((HOST, self.port), gateway)
            self.port = int(self.server.server_address[1])
            self._thread = threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True)
            self._thread.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        for child in self.children:
            if child.poll() is None:
                child.terminate()
        for child in self.children:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children.clear()

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="gateway port (0 picks a free one)")
    parser.add_argument("--no-limits", action="store_true", help="do not apply Kinesis shard write limits")
    parser.add_argument("--log-dir", type=Path, default=None, help="write kinesalite and moto logs here")
    parser.add_argument("--faults", default=None, help="a fault profile (JSON) applied from the start")
    parser.add_argument("--dynamodb", default="dynalite", choices=DYNAMODB_BACKENDS, help="who serves DynamoDB")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("WEIR_LOG_LEVEL", "WARNING"))

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        faults = load_profile(args.faults) if args.faults else []
    except (OSError, FaultError) as exc:
        print(json.dumps({"ready": False, "error": str(exc)}), flush=True)
        return 2
    endpoint = Endpoint(
        args.port, limits_enabled=not args.no_limits, log_dir=args.log_dir, faults=faults, dynamodb=args.dynamodb
    )
    try:
        endpoint.start()
    except EndpointError as exc:
        print(json.dumps({"ready": False, "error": str(exc)}), flush=True)
        return 1
    print(json.dumps({"ready": True, "endpoint": endpoint.url, "pid": os.getpid()}), flush=True)
    try:
        stop.wait()
    finally:
        endpoint.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
