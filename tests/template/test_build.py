"""`make build` (sam build for python3.13 on arm64) works whenever the machine has a python3.13."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_layer_requirements import pins
from tools.python313 import find_bin_dir

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.build


@pytest.mark.skipif(find_bin_dir() is None, reason="no python3.13 on PATH or through pyenv; sam build needs one")
def test_sam_build_packages_every_function_and_the_layer(tmp_path: Path) -> None:
    bin_dir = find_bin_dir()
    sam = Path(sys.executable).parent / "sam"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SAM_CLI_TELEMETRY": "0"}
    build_dir = tmp_path / "build"
    result = subprocess.run(
        [
            str(sam),
            "build",
            "--template-file",
            str(ROOT / "template.yaml"),
            "--build-dir",
            str(build_dir),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (build_dir / "IngestFunction" / "app.py").exists()
    layer = next(p for p in build_dir.iterdir() if p.name.startswith("WeirLayer"))
    assert (layer / "python" / "weir" / "producer.py").exists()
    # the layer carries arm64 builds of its compiled dependencies
    cores = list((layer / "python").glob("pydantic_core/_pydantic_core*.so"))
    assert cores
    assert all("aarch64" in p.name for p in cores), [p.name for p in cores]
    # the SDK in the layer is the pinned pair, not whatever aws-xray-sdk pulled in
    pinned = pins(ROOT / "layers" / "weir" / "requirements.txt")
    for package in ("boto3", "botocore", "s3transfer"):
        [dist] = (layer / "python").glob(f"{package}-*.dist-info")
        assert dist.name == f"{package}-{pinned[package]}.dist-info"
    shutil.rmtree(build_dir)
