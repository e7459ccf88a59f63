"""Start the local AWS endpoint (kinesalite + moto server + gateway) for a test, and stop it by pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class LocalEndpoint:
    def __init__(self, url: str, pid: int | None = None) -> None:
        self.url = url
        self.pid = pid  # the endpoint's own process; kinesalite and moto server are its children

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read())

    def add_fault(self, **fault: Any) -> str:
        return str(self._call("POST", "/_weir/faults", fault)["id"])

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_weir/faults")["faults"])

    def fired(self, fault_id: str) -> int:
        return next(int(f["fired"]) for f in self.faults() if f["id"] == fault_id)

    def clear_faults(self) -> None:
        self._call("DELETE", "/_weir/faults")

    def set_limits(self, **limits: Any) -> None:
        self._call("PUT", "/_weir/limits", limits)

    def limits(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_weir/limits"))

    def records_written(self, stream: str) -> int:
        return int(self._call("GET", "/_weir/stats")["kinesis_records_written"].get(stream, 0))

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"


@contextmanager
def running_endpoint(*extra_args: str) -> Iterator[LocalEndpoint]:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.endpoint", "--port", "0", *extra_args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: kinesalite and moto go with it
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        ready = json.loads(line) if line.startswith("{") else {"ready": False, "error": line}
        if not ready.get("ready"):
            raise RuntimeError(f"local endpoint did not start: {ready.get('error')}")
        yield LocalEndpoint(str(ready["endpoint"]), process.pid)
    finally:
        _stop(process)


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def listening_addresses(pids: list[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state that one of ``pids`` holds."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            address, port = local.split(":")
            found.append((_address(address, width), int(port, 16)))
    return found


def _address(hex_address: str, width: int) -> str:
    import ipaddress

    raw = bytes.fromhex(hex_address)
    if width == 8:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    if process.stdout is not None:
        process.stdout.close()
