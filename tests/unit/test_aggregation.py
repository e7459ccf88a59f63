"""Packing a request's events into KPL aggregates (weir/ingest/aggregation.py), and the ingest handler
writing them: every event in exactly one aggregate, on the shard its key hashes to, in the order of its
key, each aggregate within the stream's record limit; read back, every event once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

import functions.ingest.app as ingest_app
from tests.aws_helpers import read_stream
from tests.factories import envelope, http_api_event
from tests.fakes import FakeLambdaContext
from tests.stack import ingest_environment
from weir.ingest.aggregation import bucket_of, pack
from weir.kpl import deaggregate
from weir.producer import Record
from weir.shards import Shard, ShardMap, hash_key

STREAM = "weir-test-events"
TWO_SHARDS = ShardMap([Shard("shardId-000000000000", 0, 2**127 - 1), Shard("shardId-000000000001", 2**127, 2**128 - 1)])
records_of = st.lists(
    st.builds(Record, st.binary(min_size=1, max_size=400), st.sampled_from([f"key-{n}" for n in range(12)])),
    min_size=1,
    max_size=120,
)


@given(records_of, st.integers(min_value=1, max_value=4), st.sampled_from([600, 2_000, 1024 * 1024]))
def test_every_event_is_in_one_aggregate_on_its_shard_in_order_and_within_the_limit(
    records: list[Record], lanes: int, limit: int
) -> None:
    packed = pack(records, TWO_SHARDS, limit, lanes)
    members = [m for p in packed for m in p.members]
    assert sorted(members) == list(range(len(records)))  # each event exactly once
    for one in packed:
        assert one.record.size <= limit
        if len(one.members) == 1 and one.record == records[one.members[0]]:
            continue  # an event too large for the format's overhead goes plain
        inside = deaggregate(one.record.data)
        assert [(u.partition_key, u.data) for u in inside] == [
            (records[m].partition_key, records[m].data) for m in one.members
        ]
        assert list(one.members) == sorted(one.members)  # the request's order within an aggregate
        placed = TWO_SHARDS.shard_for(hash_key(one.record.partition_key, one.record.explicit_hash_key))
        assert {TWO_SHARDS.shard_for(hash_key(records[m].partition_key)) for m in one.members} == {placed}
        assert len({bucket_of(records[m].partition_key, lanes) for m in one.members}) == 1
    # a key's events are in one lane: the aggregates holding it share one outer partition key
    lanes_of_key: dict[str, set[str]] = {}
    for one in packed:
        for m in one.members:
            lanes_of_key.setdefault(records[m].partition_key, set()).add(one.record.partition_key)
    assert all(len(found) == 1 for found in lanes_of_key.values())


def test_an_event_that_leaves_no_room_for_the_format_goes_plain() -> None:
    big = Record(b"x" * 990, "k")
    [one] = pack([big], TWO_SHARDS, 1000, 1)
    assert one.record == big


@pytest.fixture
def aggregating(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with mock_aws():
        kinesis = boto3.client("kinesis")
        sqs = boto3.client("sqs")
        kinesis.create_stream(StreamName=STREAM, ShardCount=2)
        queue_url = sqs.create_queue(QueueName="weir-test-overflow")["QueueUrl"]
        environment = ingest_environment(STREAM, queue_url, ProducerAggregation="kpl", ParallelizationFactor="2")
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        ingest_app.service.cache_clear()
        yield {"kinesis": kinesis, "sqs": sqs}
        ingest_app.service.cache_clear()


def test_the_ingest_handler_writes_a_requests_events_as_a_few_aggregates(aggregating: dict[str, Any]) -> None:
    # GIVEN a request of 60 events over 9 keys, ingest aggregating on a stream of two shards
    events = [envelope(event_id=f"agg-{i}", partition_key=f"device-{i % 9}") for i in range(60)]
    response = ingest_app.lambda_handler(http_api_event({"events": events}), FakeLambdaContext())
    body = json.loads(response["body"])
    # THEN every event is written, each on the shard its key hashes to
    assert response["statusCode"] == 202
    assert body["accepted"] == 60
    assert {e["status"] for e in body["events"]} == {"written"}
    shards = ShardMap.from_listing(aggregating["kinesis"].list_shards(StreamName=STREAM)["Shards"])
    for event, outcome in zip(events, body["events"], strict=True):
        assert outcome["shard_id"] == shards.shard_for(hash_key(event["partition_key"])).shard_id
    # AND the stream holds at most one aggregate per shard and lane, every event once, each key in order
    raw = [r for s in shards.shards for r in _shard_records(aggregating["kinesis"], s.shard_id)]
    assert len(raw) <= 2 * 2
    read = read_stream(aggregating["kinesis"], STREAM)
    assert Counter(r["event"]["event_id"] for r in read) == Counter(e["event_id"] for e in events)
    for key in {e["partition_key"] for e in events}:
        ids = [r["event"]["event_id"] for r in read if r["event"]["partition_key"] == key]
        assert ids == [e["event_id"] for e in events if e["partition_key"] == key]


def _shard_records(kinesis: Any, shard_id: str) -> list[dict[str, Any]]:
    iterator = kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")
    return list(kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"])
