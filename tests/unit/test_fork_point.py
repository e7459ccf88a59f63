"""The fork point imports the core, never the other way round: a fork's domain.py that imports
weir.models (the natural thing to do) loads, and importing the envelope loads neither the domain
nor the producer nor boto3."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "weir" / "weir"

FORK_DOMAIN = """
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from weir.models import Event  # a fork's domain imports the envelope
from weir.consumer.dynamodb_sink import DynamoDBEventSink
from weir.consumer.sink import EventSink


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    order_id: str
    amount_cents: int = Field(ge=0)


def describe(event: Event) -> str:
    return f"{event.type} {event.payload.order_id}"


def make_sink(dynamodb: Any, environ: Any) -> EventSink:
    return DynamoDBEventSink(dynamodb, environ["EVENTS_TABLE_NAME"])
"""

PROGRAM = """
import sys
import weir.models
assert "weir.domain" not in sys.modules and "weir.producer" not in sys.modules and "boto3" not in sys.modules
import weir.domain
import weir.ingest.service, weir.consumer.service
from weir.models import Event
from pydantic import ValidationError
event = Event.model_validate({"event_id": "e1", "type": "order.placed", "occurred_at": "2026-12-02T10:00:00Z",
    "payload": {"order_id": "o-1", "amount_cents": 250}})
print(weir.domain.describe(event), event.to_document()["payload"])
try:
    Event.model_validate({"event_id": "e2", "type": "t", "occurred_at": "2026-12-02T10:00:00Z",
        "payload": {"amount_cents": -1}})
except ValidationError as exc:
    print(sorted(".".join(map(str, e["loc"])) for e in exc.errors()))
"""


def test_a_forks_domain_that_imports_the_envelope_loads(tmp_path: Path) -> None:
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
    lines = result.stdout.splitlines()
    assert lines[0] == "order.placed o-1 {'order_id': 'o-1', 'amount_cents': 250}"
    assert lines[1] == "['payload.amount_cents', 'payload.order_id']"
