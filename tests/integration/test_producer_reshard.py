"""Resharding while the paced producer writes (kinesalite): a split, then a merge, lose nothing; per-key
ordering still holds for a consumer that reads parents before children, as Lambda does."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from typing import Any

import boto3
import pytest

from tests.aws_helpers import open_shards, wait_active
from tests.endpoint import LocalEndpoint
from tools.readback import stream_records
from weir.aws import ClientSettings
from weir.deadline import Deadline
from weir.producer import Ordering, Producer, ProducerSettings, Record
from weir.shard_rate import RateSettings

pytestmark = pytest.mark.integration

KEYS = 24


@pytest.mark.parametrize("ordering", [Ordering.NONE, Ordering.PER_KEY])
def test_a_split_and_a_merge_while_writing_lose_nothing_and_keep_each_mode(
    local_aws: LocalEndpoint, ordering: Ordering
) -> None:
    kinesis = boto3.client("kinesis", endpoint_url=local_aws.url)
    stream = local_aws.unique("reshard")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    settings = ClientSettings(connect_timeout=1, read_timeout=5, max_attempts=1)
    producer = Producer(
        boto3.client("kinesis", endpoint_url=local_aws.url, config=settings.to_botocore()),
        stream,
        settings.worst_case_seconds,
        ProducerSettings(max_attempts=30, ordering=ordering, rates=RateSettings()),
    )
    written: list[tuple[str, int]] = []
    failed: list[tuple[str, int]] = []
    stop = threading.Event()
    counters = [0] * KEYS

    def write() -> None:
        while not stop.is_set():
            batch = []
            for n in range(200):  # 200 records over 24 keys, each with its key's next number
                key = n % KEYS
                batch.append((f"key-{key}", counters[key]))
                counters[key] += 1
            records = [Record(json.dumps({"k": k, "n": n}).encode(), k) for k, n in batch]
            result = producer.put(records, Deadline(20))
            for item, outcome in zip(batch, result.outcomes, strict=True):
                (written if outcome.ok else failed).append(item)
            time.sleep(0.05)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(1.0)
        first = open_shards(kinesis, stream)[0]
        low, high = int(first["HashKeyRange"]["StartingHashKey"]), int(first["HashKeyRange"]["EndingHashKey"])
        kinesis.split_shard(
            StreamName=stream, ShardToSplit=first["ShardId"], NewStartingHashKey=str((low + high) // 2 + 1)
        )
        wait_active(kinesis, stream)
        time.sleep(1.5)
        a, b = open_shards(kinesis, stream)[:2]  # the split's two children, adjacent
        kinesis.merge_shards(StreamName=stream, ShardToMerge=a["ShardId"], AdjacentShardToMerge=b["ShardId"])
        wait_active(kinesis, stream)
        time.sleep(1.5)
    finally:
        stop.set()
        writer.join(timeout=60)

    assert len(open_shards(kinesis, stream)) == 2
    assert written
    assert not failed  # nothing refused for good: 30 attempts, paced
    # Read as Lambda reads: a parent before its children (kinesalite numbers shards in creation order).
    by_shard: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in stream_records(kinesis, stream):
        by_shard[record["shard_id"]].append(json.loads(record["data"]))
    seen: dict[str, list[int]] = defaultdict(list)
    for shard_id in sorted(by_shard, key=lambda s: int(s.rsplit("-", 1)[1])):
        for item in by_shard[shard_id]:
            seen[item["k"]].append(item["n"])
    on_stream = {(k, n) for k, ns in seen.items() for n in ns}
    assert set(written) <= on_stream  # every record reported written is on the stream
    assert len(by_shard) >= 5  # the writes spanned the parents, the split's children and the merge's child
    if ordering is Ordering.PER_KEY:
        for key, numbers in seen.items():
            assert numbers == sorted(numbers), f"{key} out of order across the reshard"
