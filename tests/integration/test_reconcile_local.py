"""The reconciliation against the local endpoint (dynalite, kinesalite, moto), as B6 runs it at scale."""

from __future__ import annotations

import pytest

from load.bench_reconcile import measure
from tests.endpoint import LocalEndpoint

pytestmark = pytest.mark.integration


def test_the_reconciliation_accounts_for_every_place_an_event_can_be(local_aws: LocalEndpoint) -> None:
    local_aws.set_limits(enabled=False)
    result = measure(local_aws.url, 2_000)  # raises when any figure is wrong
    assert result["events"] == 2_000
    assert result["peak_python_mib"] > 0
