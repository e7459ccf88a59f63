"""docs/fork-guide.md as a recipe: its example domain.py and its template edits, applied to a copy of
the repository the way the guide tells a forker to."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "fork-guide.md"
DOMAIN_MARKER = "<!-- fork-example: layers/weir/weir/domain.py -->"
TEMPLATE_MARKER = re.compile(r"<!-- fork-template: (?P<name>[^>]+?) -->\s*```yaml\n(?P<block>.*?)```", re.S)


def example_domain() -> str:
    text = GUIDE.read_text()
    assert DOMAIN_MARKER in text, f"{GUIDE} lost its example marker"
    match = re.search(r"```python\n(.*?)```", text[text.index(DOMAIN_MARKER) :], re.S)
    assert match, "no python block after the marker"
    return match.group(1)


def template_edits() -> dict[str, str]:
    """The guide's block for each marked region of template.yaml, by the region's name."""
    edits = {m.group("name"): m.group("block") for m in TEMPLATE_MARKER.finditer(GUIDE.read_text())}
    assert edits, f"{GUIDE} has no template edits"
    return edits


def edit_template(template: str, edits: dict[str, str]) -> str:
    """Each region ``# --- <name> (...) ---`` .. ``# --- end of <name> ---`` holds the guide's block,
    at the markers' indentation; every region named must be there, and every region is edited."""
    for name, block in edits.items():
        begin, end = rf"# --- {re.escape(name)} \(.*?\) ---", rf"# --- end of {re.escape(name)} ---"
        region = re.compile(rf"^(?P<indent> *)(?P<begin>{begin})\n.*?^(?P=indent){end}$", re.M | re.S)
        assert region.search(template), f"template.yaml has no region {name!r}"
        template = region.sub(functools.partial(_filled, name=name, block=block), template)
    return template


def _filled(region: re.Match[str], name: str, block: str) -> str:
    indent = region.group("indent")
    lines = "".join(f"{indent}{line}\n" if line else "\n" for line in block.rstrip("\n").split("\n"))
    return f"{indent}{region.group('begin')}\n{lines}{indent}# --- end of {name} ---"


def repository_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    return [name for name in listed.stdout.decode().split("\0") if name and (ROOT / name).is_file()]


def make_fork(target: Path) -> Path:
    """A copy of the repository with the guide's Step 1 and Step 2 done."""
    for name in repository_files():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, path)
    (target / "layers" / "weir" / "weir" / "domain.py").write_text(example_domain())
    template = target / "template.yaml"
    template.write_text(edit_template(template.read_text(), template_edits()))
    return target
