"""Invoke one of the stack's functions by the output that names it, on a deployed stack or on the
running ``make up`` (whose endpoint answers CloudFormation and Lambda for the local stack), and print
its answer as JSON. What ``make redrive`` and ``make breaker`` share."""

from __future__ import annotations

import json
import sys
from typing import Any

from tools.stack import load_stack


def invoke_output(command: str, stack_name: str | None, output: str, event: Any, read_timeout: float) -> int:
    """The exit code: 0, 1 when the function failed, 2 when there is no stack to call."""
    try:
        stack = load_stack(stack_name)
    except RuntimeError as exc:
        print(f"{command}: {exc}; start one with `make up`, or name a deployed stack: STACK=...", file=sys.stderr)
        return 2
    lambda_ = stack.client("lambda", read_timeout=read_timeout)
    answer = lambda_.invoke(FunctionName=stack.outputs[output], Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read() or b"null")
    print(json.dumps(payload, indent=2))
    return 1 if answer.get("FunctionError") else 0
