"""The layer pins the AWS SDK the tests run with (docs/decisions/0003-dependencies.md)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from tools.deploy_checks import layer_sdk_pin_problems, pinned

ROOT = Path(__file__).resolve().parents[2]
LAYER = (ROOT / "layers" / "weir" / "requirements.txt").read_text()
LOCK = (ROOT / "requirements" / "dev.lock").read_text()


def pins(path: Path) -> dict[str, str]:
    return pinned(path.read_text())


def test_the_layer_pins_the_sdk_the_tests_run_with() -> None:
    assert layer_sdk_pin_problems(LAYER, LOCK) == []


def test_a_layer_without_botocore_or_with_another_version_is_found() -> None:
    without = "\n".join(line for line in LAYER.splitlines() if not line.startswith("botocore=="))
    assert layer_sdk_pin_problems(without, LOCK) == ["the layer does not pin botocore"]
    other = LAYER.replace(f"boto3=={pinned(LAYER)['boto3']}", "boto3==1.0.0")
    [problem] = layer_sdk_pin_problems(other, LOCK)
    assert problem.startswith("the layer pins boto3==1.0.0, the tests run ")


def test_the_pinned_boto3_accepts_the_pinned_botocore_and_s3transfer() -> None:
    layer = pinned(LAYER)
    assert metadata.version("boto3") == layer["boto3"]
    requirements = {Requirement(r).name: Requirement(r) for r in metadata.requires("boto3") or []}
    assert requirements["botocore"].specifier.contains(layer["botocore"])
    assert requirements["s3transfer"].specifier.contains(layer["s3transfer"])
