"""``make breaker [STACK=name] [FORCE=open|closed|release] [REASON=...]``: the circuit breaker's state,
or an operator's force.

One path for both: the function named by the stack's ``BreakerFunctionName`` output, invoked with the
Lambda API, on a deployed stack or on the running ``make up``. Without FORCE it reports the state
(and, as a scheduled run does, probes the sink if the breaker is open and keeps the consumer's mapping
in step). Printed as JSON; the exit code is 1 when the function failed.
"""

from __future__ import annotations

import argparse
import json
import sys

from load.stack import load_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", default=None, help="a deployed stack's name; default: the running make up")
    parser.add_argument("--force", choices=["open", "closed", "release"], default=None)
    parser.add_argument("--reason", default=None, help="why (kept with a forced state)")
    args = parser.parse_args(argv)
    event: dict[str, str] = {}
    if args.force:
        event["force"] = args.force
        if args.reason:
            event["reason"] = args.reason
    try:
        stack = load_stack(args.stack)
    except RuntimeError as exc:
        print(f"make breaker: {exc}; start one with `make up`, or name a deployed stack: STACK=...", file=sys.stderr)
        return 2
    lambda_ = stack.client("lambda", read_timeout=40)  # BreakerFunction's timeout is 30 s
    answer = lambda_.invoke(FunctionName=stack.outputs["BreakerFunctionName"], Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read() or b"null")
    print(json.dumps(payload, indent=2))
    return 1 if answer.get("FunctionError") else 0


if __name__ == "__main__":
    raise SystemExit(main())
