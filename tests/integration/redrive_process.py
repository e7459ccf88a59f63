"""One redrive run in a process of its own, as a new execution environment makes it.

``python -m tests.integration.redrive_process SECONDS [REQUEST]``: runs the redrive function's
handler once, with a Lambda context of SECONDS and REQUEST (JSON, default ``{}``), in the
environment this process was given (the function's own, pointed at the local endpoint), and prints
its answer as JSON. With ``--die-after-receiving``, the process ends (``os._exit``) as soon as the
run has received its first page, as a killed or timed-out invocation does: nothing of it lets go.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    die = "--die-after-receiving" in argv
    args = [a for a in argv if a != "--die-after-receiving"]
    seconds = float(args[0])
    request = json.loads(args[1]) if len(args) > 1 else {}
    if die:
        from weir.sqs_drain import QueueDrain

        messages = QueueDrain.messages

        def die_on_first_page(self: QueueDrain, *a: object, **k: object):  # type: ignore[no-untyped-def]
            for message in messages(self, *a, **k):  # type: ignore[arg-type]
                os._exit(3)
                yield message

        QueueDrain.messages = die_on_first_page  # type: ignore[method-assign]
    import functions.redrive.app as redrive_app
    from tests.fakes import FakeLambdaContext

    answer = redrive_app.lambda_handler(request, FakeLambdaContext(timeout_seconds=seconds))
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
