"""Settings every test shares: fake credentials, a region, Powertools quiet and offline."""

from __future__ import annotations

import os
from collections.abc import Iterator

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist (``make pytest`` runs two workers), every test of tests/e2e runs on one worker, one
    after another: each starts a whole pipeline whose timing is what it checks, and two at once on
    two cores would measure each other. The other worker takes everything else beside it."""
    for item in items:
        if "tests/e2e/" in item.nodeid.replace("\\", "/") or item.nodeid.startswith("e2e/"):
            item.add_marker(pytest.mark.xdist_group("e2e"))
