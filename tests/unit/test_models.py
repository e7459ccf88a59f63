from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from tests.factories import envelope
from weir.models import Event, EventIn, stamp


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-23T12:00:00Z",
        "2026-11-23T12:00:00.123456789+01:00",
        "2026-11-23t12:00:00z",
        "2026-11-23 12:00:00-05:30",
    ],
)
def test_rfc3339_date_times_are_accepted(value: str) -> None:
    assert EventIn.model_validate(envelope(occurred_at=value)).occurred_at == value


@pytest.mark.parametrize(
    "value",
    ["2026-11-23", "2026-11-23T12:00:00", "2026-02-30T12:00:00Z", "yesterday", "1700000000", "2026-11-23T25:00:00Z"],
)
def test_anything_else_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="occurred_at"):
        EventIn.model_validate(envelope(occurred_at=value))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", ""),
        ("event_id", "x" * 129),
        ("event_id", 42),
        ("event_id", "tab\tinside"),
        ("type", ""),
        ("type", 7),
        ("partition_key", ""),
        ("partition_key", "k" * 257),
        ("payload", [1, 2]),
        ("payload", "text"),
    ],
)
def test_each_bad_field_is_named(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        EventIn.model_validate(envelope(**{field: value}))
    assert [err["loc"][0] for err in caught.value.errors()] == [field]


@pytest.mark.parametrize("missing", ["type", "occurred_at", "payload"])
def test_required_fields(missing: str) -> None:
    with pytest.raises(ValidationError, match=missing):
        EventIn.model_validate(envelope(**{missing: None}))


def test_unknown_fields_are_refused_so_typos_surface() -> None:
    with pytest.raises(ValidationError, match="partiton_key"):
        EventIn.model_validate({**envelope(), "partiton_key": "x"})


def test_a_missing_event_id_is_stamped_and_a_given_one_kept() -> None:
    stamped = stamp(EventIn.model_validate(envelope(event_id=None)))
    assert uuid.UUID(stamped.event_id).version == 4
    assert stamp(EventIn.model_validate(envelope(event_id="given-1"))).event_id == "given-1"


def test_partition_key_defaults_to_the_event_id() -> None:
    event = stamp(EventIn.model_validate(envelope(event_id="e-1", partition_key=None)))
    assert event.key == "e-1"


@pytest.mark.usefixtures("any_payload")
def test_record_data_is_the_envelope_as_compact_json() -> None:
    event = Event.model_validate(envelope(event_id="e-1", payload={"name": "Zoë"}))
    data = event.to_record_data()
    assert json.loads(data) == envelope(event_id="e-1", payload={"name": "Zoë"})
    assert b", " not in data
    assert "Zoë".encode() in data
