"""The README and docs/ are what a new reader has: their structure and cross-references hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_readme_tells_the_story_in_order() -> None:
    # problem -> diagram -> the two commands -> deploy -> test -> load -> redrive
    marks = ["## The problem", "```mermaid", "make run", "make test", "## Deploy", "## Test", "## Load", "## Redrive"]
    positions = [README.find(mark) for mark in marks]
    assert all(p >= 0 for p in positions), dict(zip(marks, positions, strict=True))
    assert positions == sorted(positions), dict(zip(marks, positions, strict=True))


def test_every_doc_page_is_linked_from_the_readme_and_exists() -> None:
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert {"architecture.md", "configuration.md", "operations.md", "load-testing.md", "fork-guide.md"} <= pages
    linked = set(re.findall(r"`docs/([a-z0-9-]+\.md)`", README))
    assert pages <= linked, sorted(pages - linked)
    assert linked <= pages, sorted(linked - pages)


def test_every_make_target_with_help_is_in_the_readme() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):[^=\n]*## ", makefile, re.M))
    assert {"run", "test", "checkov", "redrive", "load", "bench"} <= targets
    missing = {t for t in targets if f"make {t}" not in README}
    assert not missing, sorted(missing)


def test_relative_links_in_docs_point_at_files_that_exist() -> None:
    broken = []
    for page in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_the_cost_figures_in_the_docs_are_what_the_planner_prints(capsys: object) -> None:
    """Each ``<!-- planner: ARGS -->`` block is the output of ``python -m load.planner ARGS``."""
    import shlex

    from load.planner import main

    blocks = []
    for page in (ROOT / "docs").rglob("*.md"):
        blocks += [
            (page.name, *m) for m in re.findall(r"<!-- planner: (.+?) -->\n```text\n(.*?)```", page.read_text(), re.S)
        ]
    assert len(blocks) >= 2, "docs/deploy.md lost its planner blocks"
    capture: pytest.CaptureFixture[str] = capsys  # type: ignore[assignment]
    for page, args, printed in blocks:
        main(shlex.split(args))
        assert capture.readouterr().out == printed, f'{page}: make plan ARGS="{args}" prints something else now'
