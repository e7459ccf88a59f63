"""Weir's own sink (weir.consumer.dynamodb_sink.DynamoDBEventSink) against moto's DynamoDB, the events
table's key schema taken from template.yaml: one item per event, the payload kept as sent, the first
copy kept, an expiry when events are kept for a while, and a probe that writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pydantic import BaseModel, ConfigDict

from tests.factories import envelope
from tests.stack import create_table
from weir.consumer.dynamodb_sink import DynamoDBEventSink
from weir.models import Event
from weir.payloads import EventTypes, TypedEvent

TABLE = "weir-test-events"


class AnyPayload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


def typed(**overrides: Any) -> TypedEvent[Any]:
    """An event as Weir's sink receives it, with any payload (whatever the domain's types are)."""
    return EventTypes({}, other=AnyPayload).validate(Event.model_validate(envelope(**overrides)))


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb")
        create_table(client, "EventsTable", TABLE)
        yield client


def item(dynamodb: Any, event_id: str) -> dict[str, Any]:
    found: dict[str, Any] = dynamodb.get_item(TableName=TABLE, Key={"event_id": {"S": event_id}})["Item"]
    return found


def test_an_event_is_one_item_with_its_payload_as_sent_and_when_it_was_stored(dynamodb: Any) -> None:
    event = envelope(event_id="e-1", payload={"name": "Zoë", "amount": 12.5, "tags": ["a", "b"], "nested": {"n": 1}})
    assert DynamoDBEventSink(dynamodb, TABLE).store(typed(**event)) is True
    stored = item(dynamodb, "e-1")
    assert stored["payload"] == {
        "M": {
            "name": {"S": "Zoë"},
            "amount": {"N": "12.5"},  # a JSON float is a DynamoDB number, exactly as sent
            "tags": {"L": [{"S": "a"}, {"S": "b"}]},
            "nested": {"M": {"n": {"N": "1"}}},
        }
    }
    assert stored["type"] == {"S": event["type"]}
    assert stored["stored_at"]["S"].endswith("Z")


def test_the_item_says_where_on_the_stream_the_consumer_read_the_event(dynamodb: Any) -> None:
    from dataclasses import replace

    from weir.payloads import StreamPosition

    sink = DynamoDBEventSink(dynamodb, TABLE)
    sink.store(replace(typed(event_id="plain"), position=StreamPosition("shardId-000000000001", "4962")))
    sink.store(replace(typed(event_id="in-aggregate"), position=StreamPosition("shardId-000000000001", "4963", 7)))
    sink.store(typed(event_id="nowhere"))  # stored outside a consumer: no position
    plain, aggregated, nowhere = (item(dynamodb, e) for e in ("plain", "in-aggregate", "nowhere"))
    assert (plain["stream_shard_id"], plain["stream_sequence_number"]) == ({"S": "shardId-000000000001"}, {"S": "4962"})
    assert "stream_sub_sequence_number" not in plain
    assert aggregated["stream_sub_sequence_number"] == {"N": "7"}
    assert not any(k.startswith("stream_") for k in nowhere)


def test_a_second_store_of_the_same_event_keeps_the_first_copy(dynamodb: Any) -> None:
    sink = DynamoDBEventSink(dynamodb, TABLE)
    assert sink.store(typed(event_id="e-1", type="first")) is True
    first = item(dynamodb, "e-1")
    assert sink.store(typed(event_id="e-1", type="second")) is False
    assert item(dynamodb, "e-1") == first


def test_any_other_error_is_raised_for_the_record_to_be_retried(dynamodb: Any) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        DynamoDBEventSink(dynamodb, "no-such-table").store(typed())


def test_events_kept_for_a_while_carry_the_expiry_the_table_s_ttl_reads(dynamodb: Any) -> None:
    import time

    DynamoDBEventSink(dynamodb, TABLE, retention_seconds=30 * 86_400).store(typed(event_id="e-1"))
    expires = int(item(dynamodb, "e-1")["expires_at"]["N"])
    assert expires - time.time() == pytest.approx(30 * 86_400, abs=60)
    DynamoDBEventSink(dynamodb, TABLE).store(typed(event_id="e-2"))
    assert "expires_at" not in item(dynamodb, "e-2")  # kept for ever


def test_the_ttl_attribute_is_the_one_the_template_names() -> None:
    from tests.stack import translated
    from weir.consumer.dynamodb_sink import EXPIRES_AT

    table = translated()["Resources"]["EventsTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": EXPIRES_AT, "Enabled": True}


def test_the_probe_exercises_the_write_path_and_writes_nothing(dynamodb: Any) -> None:
    assert DynamoDBEventSink(dynamodb, TABLE).probe() is True
    assert dynamodb.scan(TableName=TABLE)["Count"] == 0
    assert DynamoDBEventSink(dynamodb, "missing-table").probe() is False
