"""Weir's own sink (weir.consumer.dynamodb_sink.DynamoDBEventSink) against moto's DynamoDB, the events table's key
schema taken from template.yaml: one item per event, the payload kept as sent, the first copy kept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.factories import envelope
from tests.stack import create_table
from weir.consumer.dynamodb_sink import DynamoDBEventSink

TABLE = "weir-test-events"


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
    assert DynamoDBEventSink(dynamodb, TABLE).store(event) is True
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


def test_a_second_store_of_the_same_event_keeps_the_first_copy(dynamodb: Any) -> None:
    sink = DynamoDBEventSink(dynamodb, TABLE)
    assert sink.store(envelope(event_id="e-1", type="first")) is True
    first = item(dynamodb, "e-1")
    assert sink.store(envelope(event_id="e-1", type="second")) is False
    assert item(dynamodb, "e-1") == first


def test_any_other_error_is_raised_for_the_record_to_be_retried(dynamodb: Any) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        DynamoDBEventSink(dynamodb, "no-such-table").store(envelope())
