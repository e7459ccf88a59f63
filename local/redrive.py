"""``make redrive [EVENT='{"dry_run": true}']``: invoke the redrive function against the running ``make up``.

The function runs as it does in AWS: its handler, the template's environment for it, the local
endpoint. The answer (counts per source and outcome) is printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

from local.deployer import LocalFunction
from local.functions import FunctionPool
from local.runtime import STATE_PATH, worker_environment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--event", default="{}", help='the redrive request, e.g. {"dry_run": true}')
    args = parser.parse_args(argv)
    if not STATE_PATH.exists():
        print(
            f"make redrive: no local stack is running ({STATE_PATH} is missing); start one with `make up`,"
            " or name a deployed stack: make redrive STACK=weir-dev",
            file=sys.stderr,
        )
        return 2
    try:
        event = json.loads(args.event)
    except json.JSONDecodeError as exc:
        print(f"make redrive: EVENT is not JSON: {exc}", file=sys.stderr)
        return 2
    state = json.loads(STATE_PATH.read_text())
    spec = state["stack"]["functions"]["RedriveFunction"]
    from pathlib import Path

    function = LocalFunction(**{**spec, "handler_path": Path(spec["handler_path"])})
    paths = [Path(p) for p in state["stack"]["layer_paths"]] + [function.handler_path.parent]
    pool = FunctionPool(function, {**function.environment, **worker_environment(state["endpoint"])}, paths, 1)
    try:
        result = pool.invoke(event)
    finally:
        pool.stop()
    print(json.dumps(result.payload, indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
