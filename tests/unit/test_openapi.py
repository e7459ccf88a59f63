"""docs/openapi.yaml's payload schema is the domain's Payload, so the API document and the model
the API validates with cannot disagree (make openapi writes it)."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from tools import openapi


def test_the_api_document_is_current_with_the_payload_model() -> None:
    assert openapi.main(["--check"]) == 0, "run make openapi"
    document = yaml.safe_load(openapi.DOCUMENT.read_text())
    envelope = document["components"]["schemas"]["Envelope"]["properties"]
    assert envelope["payload"]["type"] == "object"


def test_a_nested_model_is_inlined_for_the_document(monkeypatch: Any) -> None:
    class Line(BaseModel):
        sku: str
        quantity: int

    class Order(BaseModel):
        model_config = ConfigDict(extra="forbid")
        lines: list[Line]

    monkeypatch.setattr(openapi, "Payload", Order)
    schema = yaml.safe_load(openapi.payload_schema())
    assert schema["additionalProperties"] is False
    assert schema["properties"]["lines"]["items"]["properties"]["quantity"]["type"] == "integer"
    assert "$ref" not in openapi.payload_schema()
