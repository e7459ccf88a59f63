"""B7's baseline is the public sample's locustfile unmodified: its git blob id is the published one."""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# aws-samples/amazon-kinesis-load-testing-with-locust, load-test/locust-load-test.py at ebacdfb88ecc
PUBLISHED_BLOB = "df74e9601ef226cadc5167828eeaa3bdac67fd0e"


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def test_the_reference_locustfile_is_the_published_blob() -> None:
    data = (ROOT / "load" / "reference" / "locust-load-test.py").read_bytes()
    assert git_blob_id(data) == PUBLISHED_BLOB


def test_the_blob_id_is_computed_as_git_computes_it() -> None:
    assert git_blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's empty blob
