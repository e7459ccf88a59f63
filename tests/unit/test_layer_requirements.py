"""The layer pins the AWS SDK the tests run with (docs/decisions/0003-dependencies.md)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SDK = ("boto3", "botocore", "s3transfer")


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)", line.strip())
        if match:
            found[match.group(1).split("[")[0].lower()] = match.group(2)
    return found


def test_the_layer_pins_the_sdk_the_tests_run_with() -> None:
    layer = pins(ROOT / "layers" / "weir" / "requirements.txt")
    lock = pins(ROOT / "requirements" / "dev.lock")
    for package in SDK:
        assert package in layer, f"layers/weir/requirements.txt does not pin {package}"
        assert layer[package] == lock[package], (package, layer[package], lock[package])


def test_the_pinned_boto3_accepts_the_pinned_botocore_and_s3transfer() -> None:
    layer = pins(ROOT / "layers" / "weir" / "requirements.txt")
    assert metadata.version("boto3") == layer["boto3"]
    requirements = {Requirement(r).name: Requirement(r) for r in metadata.requires("boto3") or []}
    assert requirements["botocore"].specifier.contains(layer["botocore"])
    assert requirements["s3transfer"].specifier.contains(layer["s3transfer"])
