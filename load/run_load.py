"""``make load``: a bounded, headless Locust run against the local runtime (or WEIR_STACK), reconciled.

Starts ``make up``'s runtime in its own process (Locust's gevent and the runtime's threads and worker
processes do not share a process), waits for it, runs Locust headless with CSV and HTML reports into
``reports/``, and stops the runtime. The exit code is Locust's: non-zero when any event is lost.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE_PATH = ROOT / "build" / "local-stack.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--shape", default="hold2x", choices=["step", "hold2x", "spike", "soak"])
    parser.add_argument("--users", type=int, default=12, help="peak users")
    parser.add_argument("--params", default="ShardCount=1", help="template overrides for the local runtime")
    parser.add_argument("--reports", default=str(ROOT / "reports"))
    parser.add_argument("--drain-seconds", type=int, default=180)
    args = parser.parse_args(argv)
    env = {
        **os.environ,
        "WEIR_SHAPE": args.shape,
        "WEIR_DURATION": str(args.duration),
        "WEIR_PEAK_USERS": str(args.users),
        "WEIR_REPORT_DIR": args.reports,
        "WEIR_DRAIN_SECONDS": str(args.drain_seconds),
        "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'weir'}",
    }
    runtime = None
    if not os.environ.get("WEIR_STACK"):
        STATE_PATH.unlink(missing_ok=True)
        runtime = subprocess.Popen(
            [sys.executable, "-m", "local.up", "--params", args.params, "--port", "0", "--api-port", "0"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while not STATE_PATH.exists():
            if runtime.poll() is not None or time.monotonic() > deadline:
                print("make load: the local runtime did not start", file=sys.stderr)
                return 2
            time.sleep(0.5)
    try:
        from load.stack import load_stack

        host = load_stack().api_url
        Path(args.reports).mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "load" / "locustfile.py"),
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
        return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
    finally:
        if runtime is not None and runtime.poll() is None:
            os.killpg(runtime.pid, signal.SIGTERM)
            try:
                runtime.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(runtime.pid, signal.SIGKILL)


if __name__ == "__main__":
    raise SystemExit(main())
