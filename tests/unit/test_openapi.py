"""docs/openapi.yaml's envelope schemas are the domain's event types, so the API document and the
models the API validates with cannot disagree (make openapi writes them)."""

from __future__ import annotations

import yaml
from pydantic import BaseModel, ConfigDict

from tools import openapi
from weir.payloads import EventTypes


def test_the_api_document_is_current_with_the_event_types() -> None:
    assert openapi.main(["--check"]) == 0, "run make openapi"
    document = yaml.safe_load(openapi.DOCUMENT.read_text())
    schemas = document["components"]["schemas"]
    assert "Envelope" in schemas
    assert schemas["EnvelopeFields"]["properties"]["payload"]["type"] == "object"


class Line(BaseModel):
    sku: str
    quantity: int


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[Line]


class Refund(BaseModel):
    order_id: str


def test_named_types_each_get_their_envelope_told_apart_by_type() -> None:
    schemas = yaml.safe_load(
        "\n".join(
            line.strip()
            for line in openapi.render(
                openapi.DOCUMENT.read_text(), EventTypes({"order.placed": Order, "order.refunded": Refund})
            ).splitlines()
            if line.startswith("    Envelope")
        )
    )
    assert schemas["Envelope"]["discriminator"]["mapping"] == {
        "order.placed": "#/components/schemas/Envelope.order.placed",
        "order.refunded": "#/components/schemas/Envelope.order.refunded",
    }
    placed = schemas["Envelope.order.placed"]["allOf"][1]["properties"]
    assert placed["type"] == {"enum": ["order.placed"]}
    # a nested model is inlined: pydantic's $defs would not resolve inside the API document
    assert placed["payload"]["properties"]["lines"]["items"]["properties"]["quantity"]["type"] == "integer"
    assert "$ref" not in str(placed["payload"])


def test_a_stream_that_takes_other_types_too_has_an_envelope_for_them() -> None:
    schemas = openapi.envelope_schemas(EventTypes({"order.placed": Order}, other=Refund))
    assert "discriminator" not in schemas["Envelope"]
    assert schemas["Envelope.other"]["allOf"][1]["properties"]["type"] == {"not": {"enum": ["order.placed"]}}
