"""The KPL aggregated record format (weir/kpl.py) against the awslabs aggregation library
(aws-kinesis-agg), both ways: its aggregates read by Weir, Weir's read by its deaggregator."""

from __future__ import annotations

import base64
import hashlib

import pytest
from aws_kinesis_agg import aggregator as awslabs_aggregator
from aws_kinesis_agg import deaggregator as awslabs_deaggregator
from hypothesis import given
from hypothesis import strategies as st

from weir.kpl import MAGIC, UnreadableAggregate, UserRecord, aggregate, deaggregate, is_aggregated

keys = st.text(min_size=1, max_size=256)
user_records = st.lists(
    st.builds(UserRecord, keys, st.binary(max_size=300), st.none() | st.integers(0, 2**128 - 1).map(str)),
    min_size=1,
    max_size=40,
)
# aws-kinesis-agg 1.2.3 reads a record without an explicit hash key index as index 0 whenever the table
# is not empty (proto2's default), so between the two an aggregate's records have one all or none:
# Weir's producer gives every record of an aggregate one (docs/aws-facts.md).
explicit = st.integers(min_value=0, max_value=2**128 - 1).map(str)
uniform = st.booleans().flatmap(
    lambda with_hash: st.lists(
        st.builds(UserRecord, keys, st.binary(max_size=300), explicit if with_hash else st.none()),
        min_size=1,
        max_size=40,
    )
)


def awslabs_aggregate(records: list[UserRecord]) -> bytes:
    builder = awslabs_aggregator.RecordAggregator()
    for record in records:
        assert builder.add_user_record(record.partition_key, record.data, record.explicit_hash_key) is None
    _, _, data = builder.clear_and_get().get_contents()
    return bytes(data)


def awslabs_deaggregate(data: bytes) -> list[UserRecord]:
    """The library's reader, as a Lambda function uses it: on a record of a Lambda Kinesis event."""
    lambda_record = {
        "eventID": "shardId-000000000000:49590338271490256608559692538361571095921575989136588898",
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "outer",
            "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
            "approximateArrivalTimestamp": 1545084650.987,
            "data": base64.b64encode(data).decode(),
        },
    }
    found = awslabs_deaggregator.deaggregate_records([lambda_record])
    return [
        UserRecord(
            r["kinesis"]["partitionKey"], base64.b64decode(r["kinesis"]["data"]), r["kinesis"]["explicitHashKey"]
        )
        for r in found
    ]


@given(user_records)
def test_weir_reads_the_awslabs_librarys_aggregates(records: list[UserRecord]) -> None:
    assert deaggregate(awslabs_aggregate(records)) == records


@given(uniform)
def test_the_awslabs_library_reads_weirs_aggregates(records: list[UserRecord]) -> None:
    assert awslabs_deaggregate(aggregate(records)) == records


@given(user_records)
def test_an_aggregate_is_magic_protobuf_and_the_md5_of_the_protobuf(records: list[UserRecord]) -> None:
    data = aggregate(records)
    assert data[:4] == MAGIC == bytes([0xF3, 0x89, 0x9A, 0xC2])
    assert data[-16:] == hashlib.md5(data[4:-16], usedforsecurity=False).digest()
    assert is_aggregated(data)
    assert deaggregate(data) == records


def test_each_key_is_stored_once_in_its_table() -> None:
    many = [UserRecord("the-same-key-" + "x" * 200, b"d", "42") for _ in range(50)]
    assert len(aggregate(many)) < len(aggregate(many[:1])) * 3  # the key is not repeated 50 times
    assert deaggregate(aggregate(many)) == many


def test_plain_data_is_not_an_aggregate() -> None:
    assert not is_aggregated(b'{"event_id": "e-1"}')
    with pytest.raises(UnreadableAggregate, match="magic"):
        deaggregate(b'{"event_id": "e-1"}')


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "MD5"),
        (lambda d: d[:10] + bytes([d[10] ^ 0x40]) + d[11:], "MD5"),
        (lambda d: d[:12], "MD5|shorter"),
        (lambda d: MAGIC + b"\x00" * 3, "shorter"),
    ],
)
def test_a_damaged_aggregate_is_refused_with_its_reason(damage: object, reason: str) -> None:
    data = aggregate([UserRecord("k", b"payload-1"), UserRecord("k2", b"payload-2")])
    with pytest.raises(UnreadableAggregate, match=reason):
        deaggregate(damage(data))  # type: ignore[operator]


def test_a_message_whose_md5_matches_but_does_not_parse_is_refused() -> None:
    message = b"\x1a\x05\x08\x00\x1a"  # a record cut short inside its data field
    data = MAGIC + message + hashlib.md5(message, usedforsecurity=False).digest()
    with pytest.raises(UnreadableAggregate):
        deaggregate(data)
    out_of_table = b"\x1a\x04\x08\x05\x1a\x00"  # partition key index 5 with an empty table
    data = MAGIC + out_of_table + hashlib.md5(out_of_table, usedforsecurity=False).digest()
    with pytest.raises(UnreadableAggregate, match="outside"):
        deaggregate(data)
