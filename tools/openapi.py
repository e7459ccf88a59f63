"""``make openapi``: the payload schema in docs/openapi.yaml, derived from weir.domain.Payload.

The API document's ``Envelope.payload`` is the JSON Schema of the domain's ``Payload`` (pydantic's),
written on its line as JSON (valid YAML). ``--check`` exits 1 when the document is out of date; a
test runs it, so the document can never disagree with the model the API validates with.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from weir.domain import Payload

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.yaml"
# The Envelope schema's payload line (8 spaces: components.schemas.Envelope.properties.payload).
PAYLOAD_LINE = re.compile(r"^(        payload: ).*$", re.MULTILINE)


def payload_schema() -> str:
    schema = Payload.model_json_schema()
    definitions = schema.pop("$defs", {})
    schema.pop("title", None)
    return json.dumps(_inline(schema, definitions, ()), sort_keys=True, separators=(", ", ": "))


def _inline(node: Any, definitions: dict[str, Any], seen: tuple[str, ...]) -> Any:
    """Nested models' ``$ref: #/$defs/X`` replaced by X itself (the payload sits inside the API
    document, where pydantic's ``$defs`` would not resolve); a model that contains itself is refused."""
    if isinstance(node, dict):
        reference = node.get("$ref", "")
        if reference.startswith("#/$defs/"):
            name = reference.rsplit("/", 1)[-1]
            if name in seen:
                raise ValueError(f"Payload: {name} contains itself; the API document cannot inline it")
            return _inline(definitions[name], definitions, (*seen, name))
        return {key: _inline(value, definitions, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, definitions, seen) for value in node]
    return node


def render(document: str) -> str:
    if len(PAYLOAD_LINE.findall(document)) != 1:
        raise ValueError(f"{DOCUMENT}: expected exactly one Envelope payload line")
    return PAYLOAD_LINE.sub(lambda m: m.group(1) + payload_schema(), document)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/openapi.yaml is out of date")
    args = parser.parse_args(argv)
    current = DOCUMENT.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print(f"{DOCUMENT} is out of date with weir.domain.Payload: run make openapi", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
