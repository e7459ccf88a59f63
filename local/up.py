"""``make up``: the whole pipeline on this machine until Ctrl-C.

Prints the stack outputs and the environment variables to point a client at it; the same outputs
are in build/local-stack.json (what ``make redrive`` and ``make load`` read).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from local.endpoint import DEFAULT_PORT
from local.faults import load_profile
from local.runtime import STATE_PATH, LocalRuntime
from tools.template import parse_overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Weir locally until Ctrl-C")
    parser.add_argument("--params", default="", help='template parameter overrides, "Key=Value Key2=Value2"')
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--api-port", type=int, default=3000)
    parser.add_argument("--faults", default=None, help="a fault profile (JSON), applied from the start")
    args = parser.parse_args(argv)
    try:
        params = parse_overrides(args.params)
        faults = load_profile(args.faults) if args.faults else []
    except (ValueError, OSError) as exc:
        print(f"make up: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        runtime = LocalRuntime(params, port=args.port, api_port=args.api_port, faults=faults).start()
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"make up: {exc}", file=sys.stderr)
        return 2
    try:
        print("Weir is running locally. Stack outputs:")
        for key, value in sorted(runtime.outputs().items()):
            print(f"  {key:<24} {value}")
        print("Environment for the AWS CLI and boto3:")
        for key, value in runtime.environment().items():
            print(f"  export {key}={value}")
        endpoint = runtime.environment()["AWS_ENDPOINT_URL"]
        print(f"POST events to {runtime.api_url}/events; faults at {endpoint}/_weir/faults")
        print(f"State in {STATE_PATH}. Ctrl-C to stop.", flush=True)
        ticks = 0
        while not stop.wait(1):
            runtime.write_metrics()
            ticks += 1
            age = runtime.iterator_age_ms()
            if age and ticks % 5 == 0:
                print(f"  iterator age {age} ms", flush=True)
    finally:
        runtime.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
