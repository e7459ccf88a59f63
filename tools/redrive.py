"""``make redrive [STACK=name] [EVENT='{"dry_run": true}']``: invoke the redrive function.

One path for both: the function named by the stack's ``RedriveFunctionName`` output, invoked with
the Lambda API, on a deployed stack or on the running ``make up`` (whose endpoint answers
CloudFormation and Lambda for the local stack). The answer (counts per source and outcome) is
printed as JSON; the exit code is 1 when the function failed.
"""

from __future__ import annotations

import argparse
import json
import sys

from tools.invoke import invoke_output

# A run lasts up to RedriveTimeoutSeconds (at most 900 s): the call waits that long for its answer.
INVOKE_READ_TIMEOUT_SECONDS = 910


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", default=None, help="a deployed stack's name; default: the running make up")
    parser.add_argument("--event", default="{}", help='the redrive request, e.g. {"dry_run": true}')
    args = parser.parse_args(argv)
    try:
        event = json.loads(args.event)
    except json.JSONDecodeError as exc:
        print(f"make redrive: EVENT is not JSON: {exc}", file=sys.stderr)
        return 2
    return invoke_output("make redrive", args.stack, "RedriveFunctionName", event, INVOKE_READ_TIMEOUT_SECONDS)


if __name__ == "__main__":
    raise SystemExit(main())
