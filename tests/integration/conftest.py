from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from tests.endpoint import LocalEndpoint, running_endpoint


@pytest.fixture(scope="session")
def endpoint() -> Iterator[LocalEndpoint]:
    with running_endpoint() as running:
        yield running


@pytest.fixture
def local_aws(endpoint: LocalEndpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalEndpoint]:
    """Point every boto3 client at the local endpoint; no faults before or after the test."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint.url)
    endpoint.clear_faults()
    endpoint.set_limits(enabled=True, records_per_second=1000, bytes_per_second=1024 * 1024)
    yield endpoint
    endpoint.clear_faults()


@pytest.fixture
def stream(local_aws: LocalEndpoint) -> str:
    name = local_aws.unique("stream")
    kinesis = boto3.client("kinesis", endpoint_url=local_aws.url)
    kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return name


@pytest.fixture
def queue_url(local_aws: LocalEndpoint) -> str:
    sqs = boto3.client("sqs", endpoint_url=local_aws.url)
    return str(
        sqs.create_queue(QueueName=local_aws.unique("overflow"), Attributes={"MaximumMessageSize": "1048576"})[
            "QueueUrl"
        ]
    )
