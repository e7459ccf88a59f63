"""SQS on the local endpoint: moto, behind the checks SQS makes before it acts (local.sqs.batches)."""

from __future__ import annotations

from local.sqs import batches
from local.wire import Answer, Backend, Call, Forwarder, Request, Route, error_body


class SqsApi:
    def __init__(self, backend: Backend, forwarder: Forwarder) -> None:
        self.backend = backend
        self.forward = forwarder.forward

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("sqs", "*"): self.call}

    def call(self, call: Call, request: Request) -> Answer:
        """A batch call SQS refuses whole is refused before moto sees it."""
        refused = batches.refusal(call.operation, call.params, call.json_protocol)
        if refused is not None:
            short = refused.code.rsplit(".", 1)[-1]
            extra, payload = error_body(call, short, refused.message, 400, query_code=refused.code)
            return 400, extra, payload
        return self.forward(self.backend, request.method, request.path, request.headers, request.body)
