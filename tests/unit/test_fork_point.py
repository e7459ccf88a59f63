"""The fork point is imported by the handlers, never by the core: no module of the layer but the
domain itself names it, a fork's domain.py that imports the core (the natural thing to do) loads,
and importing the envelope loads neither the domain nor the producer nor boto3."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "weir" / "weir"


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_core_module_imports_the_domain() -> None:
    importers = sorted(
        str(path.relative_to(LAYER))
        for path in LAYER.rglob("*.py")
        if path.name != "domain.py" and "weir.domain" in imported_modules(path)
    )
    assert importers == []


def test_the_handlers_are_what_hands_the_domain_to_the_core() -> None:
    # the consumer, the ingest API (its types) and the breaker (its sink's probe)
    handlers = {
        path.parent.name for path in (ROOT / "functions").glob("*/app.py") if "weir.domain" in imported_modules(path)
    }
    assert handlers == {"breaker", "ingest", "process"}


FORK_DOMAIN = """
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from weir.config import EnvSettings
from weir.consumer.sink import EventSink, SinkParts
from weir.models import Event  # a fork's domain imports the envelope
from weir.payloads import EventTypes, TypedEvent


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    order_id: str
    amount_cents: int = Field(ge=0)


EVENT_TYPES = EventTypes({"order.placed": Order})


class SinkSettings(EnvSettings):
    orders_table: str = Field(alias="ORDERS_TABLE")


def describe(event: TypedEvent[Order]) -> str:
    return f"{event.type} {event.payload.order_id}"


def make_sink(parts: SinkParts) -> EventSink:
    raise NotImplementedError


def example_event(n: int) -> tuple[str, dict[str, Any]]:
    return "order.placed", {"order_id": f"o-{n}", "amount_cents": n}
"""

PROGRAM = """
import sys
import weir.models
assert "weir.domain" not in sys.modules and "weir.producer" not in sys.modules and "boto3" not in sys.modules
import weir.ingest.service, weir.consumer.service, weir.aggregates.service
assert "weir.domain" not in sys.modules, "the core imported the domain"
import weir.domain
from weir.models import Event
from weir.payloads import EventRejected
event = Event.model_validate({"event_id": "e1", "type": "order.placed", "occurred_at": "2026-12-02T10:00:00Z",
    "payload": {"order_id": "o-1", "amount_cents": 250}})
typed = weir.domain.EVENT_TYPES.validate(event)
print(weir.domain.describe(typed), type(typed.payload).__name__)
for payload, type_ in (({"amount_cents": -1}, "order.placed"), ({"order_id": "o-2", "amount_cents": 1}, "order.x")):
    try:
        weir.domain.EVENT_TYPES.validate(event.model_copy(update={"type": type_, "payload": payload}))
    except EventRejected as exc:
        print(sorted(".".join(map(str, loc)) for loc, _ in exc.problems))
"""


def test_a_forks_domain_that_imports_the_core_loads(tmp_path: Path) -> None:
    package = tmp_path / "weir"
    shutil.copytree(LAYER, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "domain.py").write_text(FORK_DOMAIN)
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [
        "order.placed o-1 Order",
        "['payload.amount_cents', 'payload.order_id']",
        "['type']",
    ]
