"""The local endpoint as a process tree: it leaves nothing behind, even when killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.endpoint import LocalEndpoint

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def _alive(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _children(parent: int) -> list[str]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError):
            continue
        if fields[1] == str(parent):  # the field after the state is the parent pid
            found.append(stat.parent.name)
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux's parent-death signal and /proc")
def test_kinesalite_dynalite_and_moto_die_with_a_crashed_endpoint() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.endpoint", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert '"ready": true' in process.stdout.readline()
        children = _children(process.pid)
        assert len(children) == 3  # kinesalite, dynalite, moto server
        os.kill(process.pid, signal.SIGKILL)  # no cleanup code runs
        process.wait()
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in children if _alive(pid)]
    finally:
        if process.poll() is None:
            process.kill()
        if process.stdout is not None:
            process.stdout.close()


def test_the_endpoint_counts_the_records_each_stream_accepted(local_aws: LocalEndpoint) -> None:
    """GET /_weir/stats counts what the stream took, not what was offered: throttled entries and
    failed calls add nothing (what benchmarks count as written, whoever the writer)."""
    kinesis = boto3.client("kinesis", endpoint_url=local_aws.url)
    name = local_aws.unique("counted")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    time.sleep(1.1)  # a full token bucket
    records: list[Any] = [{"Data": b"x" * 10, "PartitionKey": f"k{i}"} for i in range(500)]
    answers = [kinesis.put_records(StreamName=name, Records=records) for _ in range(3)]  # 1,500 > 1,000/s
    kinesis.put_record(StreamName=name, Data=b"one", PartitionKey="k")
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.put_records(StreamName=name + "-missing", Records=records[:5])
    accepted = sum(len(a["Records"]) - a["FailedRecordCount"] for a in answers)

    assert sum(a["FailedRecordCount"] for a in answers) > 0  # the limit refused some
    assert local_aws.records_written(name) == accepted + 1
    assert local_aws.records_written(name + "-missing") == 0
