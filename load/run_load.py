"""``make load``: a bounded, headless Locust run against the local runtime (or WEIR_STACK), reconciled.

Starts ``make up``'s runtime in its own process (Locust's gevent and the runtime's threads and worker
processes do not share a process), waits for it, runs Locust headless with CSV and HTML reports into
``reports/`` (one process, or a master and ``--workers`` worker processes), and stops everything it
started. The exit code is Locust's: non-zero when any event is lost.

Ctrl-C (or SIGTERM) at any moment — starting, loading, draining, reconciling — stops the Locust
processes and the runtime, each process group by id, and exits 130. Locust and the runtime run in
sessions of their own, so the terminal's Ctrl-C reaches only this process, which stops them in order.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
STATE_PATH = ROOT / "build" / "local-stack.json"
RUNTIME_LOG = ROOT / "build" / "logs" / "load-runtime.log"
STOP_GRACE_SECONDS = 20.0


def _stop(process: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM the process's group, SIGKILL it after ``grace`` seconds."""
    if process.poll() is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything its group left behind
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def locust_commands(args: argparse.Namespace, host: str) -> list[list[str]]:
    """The Locust command lines: one process, or a master bound to 127.0.0.1 and its workers."""
    base = [sys.executable, "-m", "locust", "-f", str(ROOT / "load" / "locustfile.py")]
    reports = [
        "--headless",
        "--csv",
        f"{args.reports}/locust",
        "--html",
        f"{args.reports}/locust.html",
        "--only-summary",
        "--stop-timeout",
        "15",
        "--host",
        host,
    ]
    if args.workers == 0:
        return [base + reports]
    port = _free_port()
    master = (
        base
        + reports
        + [
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            str(args.workers),
            "--expect-workers-max-wait",
            "60",
        ]
    )
    worker = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port), "--host", host]
    return [master] + [worker] * args.workers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=30, help="seconds of load")
    parser.add_argument("--shape", default="hold2x", choices=["step", "hold2x", "spike", "soak"])
    parser.add_argument("--users", type=int, default=8, help="peak users")
    parser.add_argument("--params", default="ShardCount=1", help="template overrides for the local runtime")
    parser.add_argument("--reports", default=str(ROOT / "reports"))
    parser.add_argument("--drain-seconds", type=int, default=90, help="most seconds to wait for the consumer")
    parser.add_argument("--workers", type=int, default=0, help="Locust worker processes (0: one process)")
    args = parser.parse_args(argv)
    if args.workers < 0:
        parser.error("--workers must be 0 or more")
    signal.signal(signal.SIGTERM, _interrupt)
    abort_file = Path(tempfile.mkdtemp(prefix="weir-load-")) / "abort"
    env = {
        **os.environ,
        "WEIR_SHAPE": args.shape,
        "WEIR_DURATION": str(args.duration),
        "WEIR_PEAK_USERS": str(args.users),
        "WEIR_REPORT_DIR": args.reports,
        "WEIR_DRAIN_SECONDS": str(args.drain_seconds),
        "WEIR_ABORT_FILE": str(abort_file),
        "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'weir'}",
    }
    runtime: subprocess.Popen[bytes] | None = None
    locusts: list[subprocess.Popen[bytes]] = []
    try:
        if not os.environ.get("WEIR_STACK"):
            STATE_PATH.unlink(missing_ok=True)
            RUNTIME_LOG.parent.mkdir(parents=True, exist_ok=True)
            with RUNTIME_LOG.open("wb") as log:
                runtime = subprocess.Popen(
                    [sys.executable, "-m", "local.up", "--params", args.params, "--port", "0", "--api-port", "0"],
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            print("make load: starting the local runtime", flush=True)
            deadline = time.monotonic() + 120
            while not STATE_PATH.exists():
                if runtime.poll() is not None or time.monotonic() > deadline:
                    print(f"make load: the local runtime did not start; see {RUNTIME_LOG}", file=sys.stderr)
                    return 2
                time.sleep(0.5)
        from tools.stack import load_stack

        host = load_stack().api_url
        Path(args.reports).mkdir(parents=True, exist_ok=True)
        for command in locust_commands(args, host):
            locusts.append(subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True))
        code = locusts[0].wait()
        for worker in locusts[1:]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(30)
        return code
    except KeyboardInterrupt:
        print("\nmake load: interrupted; stopping Locust and the local runtime", file=sys.stderr, flush=True)
        abort_file.touch()
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        for process in locusts:
            _stop(process)
        if runtime is not None:
            _stop(runtime, grace=30)
        abort_file.unlink(missing_ok=True)
        abort_file.parent.rmdir()
        signal.signal(signal.SIGINT, signal.default_int_handler)


if __name__ == "__main__":
    raise SystemExit(main())
