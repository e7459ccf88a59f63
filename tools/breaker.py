"""``make breaker [STACK=name] [FORCE=open|closed|release] [REASON=...]``: the circuit breaker's state,
or an operator's force.

One path for both: the function named by the stack's ``BreakerFunctionName`` output, invoked with the
Lambda API, on a deployed stack or on the running ``make up``. Without FORCE it reports the state
(and, as a scheduled run does, probes the sink if the breaker is open and keeps the consumer's mapping
in step). Printed as JSON; the exit code is 1 when the function failed.
"""

from __future__ import annotations

import argparse

from tools.invoke import invoke_output


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
    # BreakerFunction's timeout is 30 s
    return invoke_output("make breaker", args.stack, "BreakerFunctionName", event, read_timeout=40)


if __name__ == "__main__":
    raise SystemExit(main())
