"""Where the load goes: the local runtime (build/local-stack.json) or a deployed stack (WEIR_STACK).

Either way the outputs come from CloudFormation DescribeStacks: the local runtime answers it on its
endpoint, so the code has one path.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STATE_PATH = ROOT / "build" / "local-stack.json"
CONNECT_TIMEOUT_SECONDS = 2.0


@dataclass
class StackInfo:
    outputs: dict[str, str]
    endpoint_url: str | None  # None: real AWS
    name: str = ""  # the stack's name (its log groups are /aws/lambda/<name>-<function>)
    # One session and one client per service: a new session resolves (and logs) credentials again.
    _clients: dict[tuple[str, float, int, bool], Any] = field(default_factory=dict, repr=False)
    _session: Any = field(default=None, repr=False)

    @property
    def api_url(self) -> str:
        return self.outputs["IngestApiUrl"].rstrip("/")

    def client(self, service: str, read_timeout: float = 10, attempts: int = 3, validate: bool = True) -> Any:
        """The stack's client for ``service`` (made once per settings; boto3 clients are thread-safe).

        ``validate=False`` skips botocore's client-side parameter validation: the service
        validates anyway, and for a load generator it is CPU spent on every record."""
        import boto3
        from botocore.config import Config

        key = (service, read_timeout, attempts, validate)
        if key not in self._clients:
            if self._session is None:
                self._session = boto3.session.Session()
            config = Config(
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                read_timeout=read_timeout,
                retries={"mode": "standard", "total_max_attempts": attempts},
                max_pool_connections=50,
                parameter_validation=validate,
            )
            self._clients[key] = self._session.client(service, endpoint_url=self.endpoint_url, config=config)
        return self._clients[key]

    def signer(self) -> Callable[[str, str, str], dict[str, str]]:
        """SigV4 headers for the IAM-authenticated HTTP API (service execute-api)."""
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        session = boto3.session.Session()
        credentials = session.get_credentials()
        region = session.region_name or "us-east-1"
        if credentials is None:
            raise RuntimeError("WEIR_SIGV4=1 needs AWS credentials")

        def sign(method: str, url: str, body: str) -> dict[str, str]:
            request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
            SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
            return dict(request.headers.items())

        return sign

    def producer(self, environment: Any) -> Any:
        """The weir producer, with one Locust request event per PutRecords call."""
        sys.path.insert(0, str(ROOT / "layers" / "weir"))
        from weir.aws import ClientSettings
        from weir.producer import Producer, ProducerSettings
        from weir.shard_rate import RateSettings

        # The producer runs its own retries (failed entries only) within the call's deadline: its
        # client makes one attempt, and the deadline arithmetic uses the same settings.
        settings = ClientSettings(connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=5, max_attempts=1)
        kinesis = self.client("kinesis", read_timeout=settings.read_timeout, attempts=1, validate=False)
        fire = environment.events.request.fire

        class TimedKinesis:
            def list_shards(self, **kwargs: Any) -> Any:  # the shard rates' map
                return kinesis.list_shards(**kwargs)

            def put_records(self, **kwargs: Any) -> Any:
                started = time.perf_counter()
                error: Exception | None = None
                try:
                    return kinesis.put_records(**kwargs)
                except Exception as exc:  # reported to Locust, then raised to the producer
                    error = exc
                    raise
                finally:
                    fire(
                        request_type="KINESIS",
                        name="PutRecords",
                        response_time=(time.perf_counter() - started) * 1000,
                        response_length=len(kwargs["Records"]),
                        exception=error,
                        context={},
                    )

        return Producer(
            TimedKinesis(),
            self.outputs["StreamName"],
            call_seconds=settings.worst_case_seconds,
            settings=ProducerSettings(rates=RateSettings()),  # as the ingest function runs it
        )


def load_stack(name: str | None = None) -> StackInfo:
    """The deployed stack ``name`` (or $WEIR_STACK), else the running local one."""
    name = name or os.environ.get("WEIR_STACK")
    endpoint_url = None
    if not name:
        if not STATE_PATH.exists():
            raise RuntimeError(f"no local runtime: {STATE_PATH} is missing (make up, or WEIR_STACK=<deployed stack>)")
        state = json.loads(STATE_PATH.read_text())
        for variable, value in state.get("environment", {}).items():  # the local endpoint's placeholders
            os.environ.setdefault(variable, value)
        name, endpoint_url = state["stack"]["name"], state["endpoint"]
    stack = StackInfo({}, endpoint_url, name)
    described = stack.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    stack.outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return stack
