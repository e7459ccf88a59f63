"""B7: the load generator's own throughput, per Locust process and per CPU-second, against a public sample.

One local runtime (4 shards, the shard write limits off, the consumer's mapping disabled through the
Lambda API so the stream keeps what is written and the two cores go to the generator). In it, one at
a time and each in one Locust process:

* the baseline: aws-samples/amazon-kinesis-load-testing-with-locust's locustfile, run unmodified
  (load/reference/): ``--users`` users, each one ``put_records`` of ``--batch`` records a second;
  it reports a call as sent whatever ``FailedRecordCount`` says;
* Weir's ``KinesisUser``: the ``weir`` producer (per-entry failures resubmitted), every event id in
  the ledger, and the reconciliation at the end, which must find every accepted event (lost 0);
* Weir's ``IngestUser``: ``POST /events`` to the local API (the ingest function writes to the stream),
  ledger and reconciliation as above.

Each is measured over the same window once its users run: records the stream accepted (the local
endpoint counts them, ``GET /_weir/stats``, whoever wrote them) per second, and per CPU-second of
the Locust process (read from /proc): events/s per worker core. Ratios are to the baseline.

    python -m load.bench_generator [--users 150] [--batch 100] [--seconds 10] [--json build/bench/b7.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "load" / "reference" / "locust-load-test.py"
# Locust starts (imports, users spawned in one second) before the window opens.
WARMUP_SECONDS = 5.0


@dataclass
class Case:
    name: str
    command: list[str]
    env: dict[str, str]
    reports: Path | None = None  # where Weir's reconciliation writes its table
    figures: dict[str, Any] = field(default_factory=dict)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu(servers: dict[str, list[int]]) -> list[float]:
    return [sum(cpu_seconds(pid) for pid in pids) for pids in servers.values()]


def written(endpoint: str, stream: str) -> int:
    with urllib.request.urlopen(f"{endpoint}/_weir/stats", timeout=10) as response:  # noqa: S310 - loopback
        return int(json.loads(response.read())["kinesis_records_written"].get(stream, 0))


def reconciliation(directory: Path) -> dict[str, int]:
    with (directory / "reconciliation.csv").open() as handle:
        return {row["figure"]: int(row["count"]) for row in csv.DictReader(handle)}


def measure(case: Case, endpoint: str, stream: str, seconds: float, servers: dict[str, list[int]]) -> None:
    """Run ``case``'s Locust process; the window opens WARMUP_SECONDS after it starts. ``servers``:
    the processes serving it (this one, with the gateway and the runtime, and the endpoint's
    children), whose CPU is reported beside the generator's."""
    log = ROOT / "build" / "bench" / "b7" / f"{case.name.split(':')[0].replace(' ', '-')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen(case.command, cwd=ROOT, env=case.env, stdout=output, stderr=subprocess.STDOUT)
    try:
        time.sleep(WARMUP_SECONDS)
        if process.poll() is not None:
            raise RuntimeError(f"{case.name}: Locust stopped early (exit {process.returncode}); see {log}")
        start = (time.monotonic(), written(endpoint, stream), cpu_seconds(process.pid), *_cpu(servers))
        time.sleep(seconds)
        end = (time.monotonic(), written(endpoint, stream), cpu_seconds(process.pid), *_cpu(servers))
        code = process.wait(timeout=900)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    elapsed, records, cpu, *server_cpu = (b - a for a, b in zip(start, end, strict=True))
    case.figures = {
        "records_per_second": round(records / elapsed),
        "cpu_seconds_per_second": round(cpu / elapsed, 2),
        "endpoint_cpu_seconds_per_second": {
            name: round(used / elapsed, 2) for name, used in zip(servers, server_cpu, strict=True)
        },
        "records_per_cpu_second": round(records / cpu) if cpu else 0,
        "exit_code": code,
        "log": str(log.relative_to(ROOT)),
    }
    if case.reports is not None:
        table = reconciliation(case.reports)
        case.figures.update(sent=table["sent"], accepted=table["accepted"], lost=table["lost"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=150, help="users of the two Kinesis cases")
    parser.add_argument("--batch", type=int, default=100, help="records per PutRecords call")
    parser.add_argument(
        "--http-users", type=int, default=8, help="users of the HTTP case (more only meet the local API's 503s)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the measured window")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.batch % 2:
        parser.error("--batch must be even (Weir's KinesisUser puts two requests' worth of events)")
    from local.cloudformation.deployer import local_client, local_credentials
    from local.runtime import LocalRuntime

    credentials = local_credentials()
    # The consumer is switched off before any case: no 60 s of deliveries after it is disabled (the
    # delay AWS shows, which the runtime models by default), or they would compete with the generator.
    runtime = LocalRuntime(
        {"ShardCount": "4"}, port=0, api_port=0, stack_name="bench-generator", disable_delay_seconds=0
    ).start()
    work = Path(tempfile.mkdtemp(prefix="weir-b7-"))
    try:
        endpoint = runtime.environment()["AWS_ENDPOINT_URL"]
        stream = runtime.outputs()["StreamName"]
        limits_off = urllib.request.Request(f"{endpoint}/_weir/limits", data=b'{"enabled": false}', method="PUT")  # noqa: S310
        urllib.request.urlopen(limits_off, timeout=10).close()  # noqa: S310 - loopback
        lambda_client = local_client("lambda", endpoint)
        for mapping in lambda_client.list_event_source_mappings()["EventSourceMappings"]:
            lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
        duration = WARMUP_SECONDS + args.seconds + 3  # Locust's clock starts after its imports
        # the sample takes the stream's name as Locust's host
        sample = ["-f", str(REFERENCE), "-u", str(args.users), "-r", str(args.users), "-t", f"{duration:.0f}s"]
        base_env = {**os.environ, **credentials, "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1"}
        locust = [sys.executable, "-m", "locust", "--headless", "--only-summary", "--skip-log-setup"]
        weir_env = {
            **base_env,
            "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'weir'}",
            "WEIR_SHAPE": "hold2x",
            "WEIR_DURATION": str(duration),
            "WEIR_DRAIN_SECONDS": "0",  # the consumer is paused: what is accepted waits on the stream
            "WEIR_PROGRESS_SECONDS": "3600",
        }

        def weir_case(name: str, user: str, users: int, reports: str) -> Case:
            """Weir's own locustfile, ``users`` of one user class, its reconciliation into ``reports``."""
            env = {
                **weir_env,
                "WEIR_PEAK_USERS": str(users),
                "WEIR_EVENTS_PER_REQUEST": str(args.batch // 2),
                "WEIR_REPORT_DIR": str(work / reports),
            }
            command = [*locust, "-f", str(ROOT / "load" / "locustfile.py"), user, "--host", runtime.api_url]
            return Case(name, command, env, work / reports)

        cases = [
            Case(
                "baseline: aws-samples locustfile, unmodified",
                [*locust, *sample, "--host", stream],
                {**base_env, "LOCUST_BATCH_SIZE": str(args.batch), "REGION": "us-east-1"},
            ),
            weir_case("KinesisUser: weir producer, ledger, reconciliation", "KinesisUser", args.users, "kinesis"),
            weir_case("IngestUser: POST /events, ledger, reconciliation", "IngestUser", args.http_users, "http"),
        ]
        assert runtime.endpoint is not None
        kinesalite, *others = (child.pid for child in runtime.endpoint.children)
        servers = {"gateway and runtime": [os.getpid()], "kinesalite": [kinesalite], "moto and dynalite": others}
        for case in cases:
            measure(case, endpoint, stream, args.seconds, servers)
    finally:
        runtime.stop()
    baseline = cases[0].figures
    print(f"B7 generator throughput: one Locust process each, 4 local shards, limits off, {args.seconds:g} s window")
    print(f"  {'case':<52} {'records/s':>10} {'cores':>6} {'per core':>9} {'ratio':>6} {'lost':>5}  endpoint cores")
    for case in cases:
        f = case.figures
        f["ratio_to_baseline"] = round(f["records_per_second"] / max(1, baseline["records_per_second"]), 2)
        f["per_core_ratio_to_baseline"] = round(
            f["records_per_cpu_second"] / max(1, baseline["records_per_cpu_second"]), 2
        )
        print(
            f"  {case.name:<52} {f['records_per_second']:>10,} {f['cpu_seconds_per_second']:>6} "
            f"{f['records_per_cpu_second']:>9,} {f['ratio_to_baseline']:>6} {f.get('lost', '-'):>5}  "
            + ", ".join(f"{name} {used}" for name, used in f["endpoint_cpu_seconds_per_second"].items())
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({c.name: c.figures for c in cases}, indent=2) + "\n")
    # Weir's cases must account for every event; a Locust run that failed proved nothing.
    failed = [c.name for c in cases if c.figures["exit_code"] != 0 or c.figures.get("lost", 0)]
    for name in failed:
        print(f"  FAILED: {name}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
