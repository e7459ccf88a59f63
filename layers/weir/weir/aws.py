"""boto3 clients with every timeout and retry setting explicit.

botocore's defaults are 60 s connect and read timeouts and the `legacy` retry mode with five
attempts: a hung endpoint can hold a Lambda invocation for minutes. Nothing here inherits them.

Clients are built lazily and cached per (service, settings), so importing a module never opens
a connection and tests can point the standard ``AWS_ENDPOINT_URL`` variables at a local
endpoint before the first call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

import boto3
from botocore.config import Config

RetryMode = Literal["standard", "adaptive"]


@dataclass(frozen=True)
class ClientSettings:
    """Timeouts and retries for one client. All in seconds.

    ``max_attempts`` counts the first try (botocore's ``total_max_attempts``): 1 means botocore
    never retries, which is what a caller that runs its own retry loop wants.
    """

    connect_timeout: float = 1.0
    read_timeout: float = 2.0
    max_attempts: int = 3
    retry_mode: RetryMode = "standard"
    tcp_keepalive: bool = True
    max_pool_connections: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.connect_timeout <= 60:
            raise ValueError(f"connect_timeout must be in (0, 60] seconds, got {self.connect_timeout}")
        if not 0 < self.read_timeout <= 60:
            raise ValueError(f"read_timeout must be in (0, 60] seconds, got {self.read_timeout}")
        if not 1 <= self.max_attempts <= 10:
            raise ValueError(f"max_attempts must be in [1, 10], got {self.max_attempts}")

    @property
    def worst_case_seconds(self) -> float:
        """The longest one SDK call can take with these settings, retries included (backoff aside)."""
        return self.max_attempts * (self.connect_timeout + self.read_timeout)

    def to_botocore(self) -> Config:
        return Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
            tcp_keepalive=self.tcp_keepalive,
            max_pool_connections=self.max_pool_connections,
        )


_lock = threading.Lock()
_clients: dict[tuple[str, ClientSettings, str | None], Any] = {}


def client(service: str, settings: ClientSettings, region: str | None = None) -> Any:
    """A cached boto3 client for ``service`` with ``settings``.

    The endpoint comes from the standard variables (``AWS_ENDPOINT_URL``,
    ``AWS_ENDPOINT_URL_<SERVICE>``), so the same code talks to AWS or to the local runtime.
    """
    key = (service, settings, region)
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = boto3.session.Session().client(  # type: ignore[call-overload]  # service is a runtime string
                service, region_name=region, config=settings.to_botocore()
            )
            _clients[key] = found
        return found


def reset_clients() -> None:
    """Forget cached clients (tests that change endpoints between cases call this)."""
    with _lock:
        _clients.clear()
