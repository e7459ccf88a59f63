"""``make openapi``: the envelope schemas of docs/openapi.yaml, derived from weir.domain.EVENT_TYPES.

The API document's ``Envelope`` is written from the domain's event types: the envelope's own fields
(``EnvelopeFields``, by hand in the document) with each type's payload schema (pydantic's JSON Schema
of its model). A stream that takes named types gets one schema per type, told apart by ``type`` (a
discriminator); one that takes any type gets one schema. The generated part sits between two marker
lines, each schema on its line as JSON (valid YAML). ``--check`` exits 1 when the document is out of
date; a test runs it, so the document can never disagree with the models the API validates with.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from weir.domain import EVENT_TYPES
from weir.payloads import EventTypes

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.yaml"
BEGIN = "    # --- written by make openapi from weir.domain.EVENT_TYPES (tools/openapi.py); do not edit ---"
END = "    # --- end of what make openapi writes ---"
REGION = re.compile(rf"^{re.escape(BEGIN)}\n.*?^{re.escape(END)}$", re.MULTILINE | re.DOTALL)
FIELDS = {"$ref": "#/components/schemas/EnvelopeFields"}


def payload_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})
    schema.pop("title", None)
    inlined: dict[str, Any] = _inline(schema, definitions, ())
    return inlined


def payload_schemas(event_types: EventTypes = EVENT_TYPES) -> dict[str, dict[str, Any]]:
    """Each named type's payload schema; ``*`` for the model of any other type, if the stream takes them."""
    found = {type_: payload_schema(model) for type_, model in event_types}
    if event_types.other is not None:
        found["*"] = payload_schema(event_types.other)
    return found


def envelope_schemas(event_types: EventTypes = EVENT_TYPES) -> dict[str, Any]:
    """The document's generated schemas, by name."""
    named = [type_ for type_, _ in event_types]
    schemas: dict[str, Any] = {}
    for type_, schema in payload_schemas(event_types).items():
        if type_ == "*":
            narrowed: dict[str, Any] = {"payload": schema}
            if named:
                narrowed["type"] = {"not": {"enum": named}}
            schemas["Envelope.other" if named else "Envelope"] = {"allOf": [FIELDS, {"properties": narrowed}]}
        else:
            schemas[f"Envelope.{type_}"] = {
                "allOf": [FIELDS, {"properties": {"type": {"enum": [type_]}, "payload": schema}}]
            }
    if named:
        refs = {name: f"#/components/schemas/{name}" for name in schemas}
        envelope: dict[str, Any] = {"oneOf": [{"$ref": ref} for ref in refs.values()]}
        if event_types.other is None:
            envelope["discriminator"] = {
                "propertyName": "type",
                "mapping": {type_: refs[f"Envelope.{type_}"] for type_ in named},
            }
        schemas = {"Envelope": envelope, **schemas}
    return schemas


def _inline(node: Any, definitions: dict[str, Any], seen: tuple[str, ...]) -> Any:
    """Nested models' ``$ref: #/$defs/X`` replaced by X itself (the payload sits inside the API
    document, where pydantic's ``$defs`` would not resolve); a model that contains itself is refused."""
    if isinstance(node, dict):
        reference = node.get("$ref", "")
        if reference.startswith("#/$defs/"):
            name = reference.rsplit("/", 1)[-1]
            if name in seen:
                raise ValueError(f"a payload model's {name} contains itself; the API document cannot inline it")
            return _inline(definitions[name], definitions, (*seen, name))
        return {key: _inline(value, definitions, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, definitions, seen) for value in node]
    return node


def render(document: str, event_types: EventTypes = EVENT_TYPES) -> str:
    if len(REGION.findall(document)) != 1:
        raise ValueError(f"{DOCUMENT}: expected exactly one region between the make openapi markers")
    lines = [
        f"    {name}: {json.dumps(schema, sort_keys=True, separators=(', ', ': '))}"
        for name, schema in envelope_schemas(event_types).items()
    ]
    return REGION.sub(lambda m: "\n".join([BEGIN, *lines, END]), document)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/openapi.yaml is out of date")
    args = parser.parse_args(argv)
    current = DOCUMENT.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print(f"{DOCUMENT} is out of date with weir.domain.EVENT_TYPES: run make openapi", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
