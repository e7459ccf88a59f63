from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.endpoint import LocalEndpoint, running_endpoint


@pytest.fixture(scope="session")
def endpoint() -> Iterator[LocalEndpoint]:
    with running_endpoint() as running:
        yield running
