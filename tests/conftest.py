"""Settings every test shares: fake credentials, a region, Powertools quiet and offline."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# Set before anything imports boto3 or Powertools: no test may reach a real AWS account.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "WeirTest",
    "POWERTOOLS_SERVICE_NAME": "weir-test",
    "POWERTOOLS_DEV": "false",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    """Clients are cached per process; a test that changes the endpoint must not see old ones."""
    from weir import aws

    aws.reset_clients()
    yield
    aws.reset_clients()


@pytest.fixture
def any_payload(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests of the core that need a payload of their own (non-ASCII, megabytes) whatever the
    domain's event types are: the handlers take ``weir.domain.EVENT_TYPES`` when they build their
    service, so this puts in one that takes any type with any JSON object, as Weir's own does."""
    from pydantic import BaseModel, ConfigDict

    from weir import domain
    from weir.payloads import EventTypes

    class AnyPayload(BaseModel):
        model_config = ConfigDict(extra="allow", frozen=True)

    monkeypatch.setattr(domain, "EVENT_TYPES", EventTypes({}, other=AnyPayload))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under xdist (``make pytest`` runs two workers), every e2e test runs on one worker, one after
    another: each starts a whole pipeline whose timing is what it checks, and two at once on two cores
    would measure each other. Every other module goes to whichever worker is free. (xdist's own
    ``loadgroup`` marks a group by rewriting node ids, which pytest 9 no longer lets it do.)"""
    from xdist.scheduler import LoadScopeScheduling

    class E2EOnOneWorker(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.replace("\\", "/").startswith("tests/e2e/"):
                return "tests/e2e"
            return str(super()._split_scope(nodeid))

    return E2EOnOneWorker(config, log)
