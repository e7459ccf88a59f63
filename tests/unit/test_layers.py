"""The top-level folders import each other one way only, and the test bed never runs the product's logic.

    load  ->  local  ->  tools        (and load -> tools)

* ``tools/`` (the template as data, deploy checks, reading a stack back, operator commands) imports
  neither the test bed nor the load tools: it works the same against AWS;
* ``local/`` (the test bed) imports no load tool, and none of the product's ``weir`` package: it computes
  what AWS computes on its own, so a defect in the product is not mirrored by the emulator meant to
  catch it. One exception, named: the demo driver asks the fork's domain whether it takes the demo's
  event types before it starts (composition, not emulation);
* the product (``layers/weir``, ``functions/``) imports none of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"local": "local", "tools": "tools", "load": "load", "weir": "layers/weir/weir", "functions": "functions"}
NEVER = {
    "tools": {"local", "load"},
    "local": {"load", "weir"},
    "weir": {"local", "tools", "load", "tests"},
    "functions": {"local", "tools", "load", "tests"},
}
ALLOWED = {("local/run.py", "weir")}  # not_weirs_own_stream: the fork's domain, asked about the demo's types


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("folder", sorted(NEVER))
def test_a_folder_imports_none_of_what_it_must_not(folder: str) -> None:
    found = []
    for path in sorted((ROOT / FOLDERS[folder]).rglob("*.py")):
        name = str(path.relative_to(ROOT))
        for root in sorted(imported_roots(path) & NEVER[folder]):
            if (name, root) not in ALLOWED:
                found.append(f"{name} imports {root}")
    assert found == []


def test_each_aws_service_the_test_bed_serves_has_a_folder_of_its_own() -> None:
    services = {p.name for p in (ROOT / "local").iterdir() if (p / "__init__.py").exists()}
    assert {"kinesis", "dynamodb", "sqs", "awslambda", "cloudformation", "apigateway", "events", "fis"} <= services
    flat = sorted(p.name for p in (ROOT / "local").glob("*.py"))
    # what stays at the top: the endpoint, its gateway and the wire format, faults, the runtime and its commands
    assert flat == [
        "__init__.py",
        "endpoint.py",
        "faults.py",
        "gateway.py",
        "httpd.py",
        "run.py",
        "runtime.py",
        "up.py",
        "wire.py",
    ]
