"""Through the local endpoint: GetRecords on one shard, from any number of readers, is held to 5
calls a second; an enhanced fan-out reader (the emulator's header) is not counted."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.kinesis.limits import DEDICATED_READ_HEADER
from tests.endpoint import LocalEndpoint

pytestmark = pytest.mark.integration

ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})  # see every refusal


def reads(client: Any, stream: str, calls: int) -> list[str]:
    """``calls`` GetRecords in a row on shard 0, each with a fresh iterator: the answers' codes."""
    codes = []
    for _ in range(calls):
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        try:
            client.get_records(ShardIterator=iterator)
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    return codes


def test_a_shards_readers_share_five_calls_a_second(local_aws: LocalEndpoint, stream: str) -> None:
    first = boto3.client("kinesis", endpoint_url=local_aws.url, config=ONE_ATTEMPT)
    second = boto3.client("kinesis", endpoint_url=local_aws.url, config=ONE_ATTEMPT)
    time.sleep(1.1)  # a full budget
    started = time.monotonic()
    codes = reads(first, stream, 3) + reads(second, stream, 3)
    assert time.monotonic() - started < 1.0, "too slow to test a per-second limit here"
    assert codes.count("ok") == 5
    assert codes[-1] == "ProvisionedThroughputExceededException"


def test_an_enhanced_fan_out_reader_is_not_counted(local_aws: LocalEndpoint, stream: str) -> None:
    dedicated = boto3.client("kinesis", endpoint_url=local_aws.url, config=ONE_ATTEMPT)
    dedicated.meta.events.register(
        "before-sign.kinesis.GetRecords",
        lambda request, **_: request.headers.__setitem__(DEDICATED_READ_HEADER, "enhanced-fan-out"),
    )
    time.sleep(1.1)
    assert reads(dedicated, stream, 8) == ["ok"] * 8
