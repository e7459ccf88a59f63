"""moto server, with CloudWatch's percentile statistics.

moto answers GetMetricData and GetMetricStatistics with Sum, Average, Minimum, Maximum and
SampleCount only; the dashboard's latency graphs and alarm ask for ``p50`` and ``p99``. This adds
them: the nearest-rank percentile over every value put (each value of a ``Values`` array), which
CloudWatch computes from the raw values it keeps (docs/local.md).
"""

from __future__ import annotations

import math
import re
import sys
from typing import Any

_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?)$")


def percentile(values: list[float], rank: float) -> float | None:
    """The nearest-rank ``rank``-th percentile of ``values`` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, math.ceil(rank / 100 * len(ordered)) - 1)
    return ordered[min(index, len(ordered) - 1)]


def _patch() -> None:
    from moto.cloudwatch.models import Statistics

    plain = Statistics.get_statistics_for_type

    def get_statistics_for_type(self: Any, stat: str) -> Any:
        match = _PERCENTILE.match(stat)
        if match is None:
            return plain(self, stat)
        return percentile([float(v) for v in self.metric_single_values_list], float(match.group(1)))

    Statistics.get_statistics_for_type = get_statistics_for_type  # type: ignore[method-assign]


def main() -> None:
    _patch()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
