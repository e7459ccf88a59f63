"""Reading the embedded metric format (EMF): the metrics a JSON log line declares.

https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
A line's ``_aws.CloudWatchMetrics`` lists directives (a namespace, dimension sets, metric names and
units); each metric's value is the line's member of that name, a number or an array of up to 100
numbers; each dimension's value is the line's member of that name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Datum:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    timestamp: datetime
    values: tuple[float, ...]
    unit: str | None


def metrics_of(line: str) -> list[Datum]:
    """The metric values a log line declares; [] for a line that is not EMF or not valid EMF."""
    if '"_aws"' not in line:
        return []
    try:
        document = json.loads(line)
        meta = document["_aws"]
        moment = datetime.fromtimestamp(int(meta["Timestamp"]) / 1000, UTC)
        found: list[Datum] = []
        for directive in meta["CloudWatchMetrics"]:
            for names in directive.get("Dimensions") or [[]]:
                dimensions = tuple((str(n), str(document[n])) for n in names)
                for metric in directive["Metrics"]:
                    found.append(_datum(document, directive["Namespace"], metric, dimensions, moment))
        return found
    except (ValueError, KeyError, TypeError):
        return []


def _datum(
    document: dict[str, Any],
    namespace: str,
    metric: dict[str, Any],
    dimensions: tuple[tuple[str, str], ...],
    at: datetime,
) -> Datum:
    value = document[metric["Name"]]
    values = tuple(float(v) for v in (value if isinstance(value, list) else [value]))
    return Datum(str(namespace), str(metric["Name"]), dimensions, at, values, metric.get("Unit"))
