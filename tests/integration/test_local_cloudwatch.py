"""The local CloudWatch: what a function writes to its log reaches its log group, and the metrics its
EMF lines declare reach CloudWatch, where the dashboard's statistics (p50, p99) answer them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from local.cloudwatch.feed import LogFeed
from tests.endpoint import LocalEndpoint

pytestmark = pytest.mark.integration


def emf(values: list[float], service: str = "process", at: datetime | None = None) -> str:
    """One EMF line as Powertools writes it: a metric with a value array, dimension ``service``."""
    moment = at or datetime.now(UTC)
    return json.dumps(
        {
            "_aws": {
                "Timestamp": int(moment.timestamp() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": "WeirLocalTest",
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": "IngestToStoreLatency", "Unit": "Milliseconds"}],
                    }
                ],
            },
            "service": service,
            "IngestToStoreLatency": values,
        }
    )


def statistic(cloudwatch: object, stat: str, service: str = "process") -> list[float]:
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_data(  # type: ignore[attr-defined]
        MetricDataQueries=[
            {
                "Id": "q",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "WeirLocalTest",
                        "MetricName": "IngestToStoreLatency",
                        "Dimensions": [{"Name": "service", "Value": service}],
                    },
                    "Period": 3600,
                    "Stat": stat,
                },
            }
        ],
        StartTime=now - timedelta(minutes=30),
        EndTime=now + timedelta(minutes=30),
    )
    return [float(v) for v in answer["MetricDataResults"][0]["Values"]]


def test_a_function_s_log_lines_and_emf_metrics_reach_the_local_cloudwatch(
    local_aws: LocalEndpoint, tmp_path: Path
) -> None:
    logs = boto3.client("logs", endpoint_url=local_aws.url)
    cloudwatch = boto3.client("cloudwatch", endpoint_url=local_aws.url)
    group = f"/aws/lambda/{local_aws.unique('fn')}"
    log_file = tmp_path / "Function.log"
    log_file.write_text('{"level":"INFO","message":"before the feed started"}\n')
    feed = LogFeed({group: log_file}, logs, cloudwatch)
    # GIVEN a function that logs a line about an event and emits 200 latency values (1..200 ms) in two
    # EMF lines, one of them split across two writes
    first, second = emf([float(v) for v in range(1, 101)]), emf([float(v) for v in range(101, 201)])
    with log_file.open("a") as handle:
        handle.write('{"level":"INFO","message":"event stored","event_id":"ev-1"}\n')
        handle.write(first + "\n" + second[:40])
    assert feed.feed() == 2  # the half-written line waits
    with log_file.open("a") as handle:
        handle.write(second[40:] + "\n")
    assert feed.feed() == 1
    # THEN the log group holds the lines written since the feed started, found as make trace finds them
    found = logs.filter_log_events(logGroupName=group, filterPattern='"ev-1"')["events"]
    assert [json.loads(e["message"])["event_id"] for e in found] == ["ev-1"]
    everything = logs.filter_log_events(logGroupName=group)["events"]
    assert not any("before the feed started" in e["message"] for e in everything)
    # AND CloudWatch answers the dashboard's statistics over every value
    assert statistic(cloudwatch, "SampleCount") == [200.0]
    assert statistic(cloudwatch, "p50") == [100.0]
    assert statistic(cloudwatch, "p99") == [198.0]
    assert statistic(cloudwatch, "Maximum") == [200.0]
    assert statistic(cloudwatch, "p99", service="aggregate") == []  # another dimension: nothing


def test_lines_that_are_not_emf_put_no_metric() -> None:
    from local.cloudwatch.emf import metrics_of

    assert metrics_of('{"level":"INFO","message":"no metrics"}') == []
    assert metrics_of('{"_aws": "not a directive"}') == []
    assert metrics_of("not json, with _aws in it") == []
    [datum] = metrics_of(emf([1.0, 2.0], service="ingest"))
    assert (datum.name, datum.dimensions, datum.values) == (
        "IngestToStoreLatency",
        (("service", "ingest"),),
        (1.0, 2.0),
    )
