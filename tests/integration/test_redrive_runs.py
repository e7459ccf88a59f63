"""Redrive runs one after another, each in a process of its own (as separate invocations are), over
an SQS failure queue on the local endpoint: no run leaves a message it received hidden, a run says
"complete" only when the queue holds nothing, visible or in flight, and the runs together bring every
failed record back once. A run that dies holding messages does not let the next one call the queue
drained while they are still hidden."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.cloudformation.deployer import Deployer, local_credentials
from tests.aws_helpers import read_stream
from tests.endpoint import LocalEndpoint
from tests.factories import envelope
from tests.unit.test_failures import SQS_RECORD

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
POINTERS, RECORDS_PER_POINTER = 10, 14


class FailureQueue:
    def __init__(self, endpoint: LocalEndpoint, pointers: int) -> None:
        self.stack = Deployer(endpoint.url, stack_name=endpoint.unique("weir")).deploy(
            {"ShardCount": "1", "FailureDestinationType": "SQS"}
        )
        self.kinesis = boto3.client("kinesis", endpoint_url=endpoint.url)
        self.sqs: Any = boto3.client("sqs", endpoint_url=endpoint.url)
        function = self.stack.functions["RedriveFunction"].environment
        self.url = function["FAILURE_QUEUE_URL"]
        self.stream = self.stack.outputs["StreamName"]
        self.environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))},
            **local_credentials(),
            **function,
            "AWS_ENDPOINT_URL": endpoint.url,
            "REDRIVE_RECORDS_PER_SECOND": "7",  # a pointer's 14 records take 2 s
            "SAFETY_MARGIN_SECONDS": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "weir"), str(ROOT)]),
        }
        events = [envelope(event_id=f"f-{i}", partition_key="k") for i in range(pointers * RECORDS_PER_POINTER)]
        written = self.kinesis.put_records(
            StreamName=self.stream,
            Records=[{"Data": json.dumps(e).encode(), "PartitionKey": "k"} for e in events],
        )["Records"]
        for p in range(pointers):
            first, last = written[p * RECORDS_PER_POINTER], written[(p + 1) * RECORDS_PER_POINTER - 1]
            info = {
                **SQS_RECORD["KinesisBatchInfo"],
                "shardId": first["ShardId"],
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "batchSize": RECORDS_PER_POINTER,
                "streamArn": self.stack.outputs["StreamArn"],
            }
            body = json.dumps({**SQS_RECORD, "KinesisBatchInfo": info})
            self.sqs.send_message(QueueUrl=self.url, MessageBody=body)

    def run(self, seconds: float, *flags: str) -> subprocess.CompletedProcess[str]:
        request = json.dumps({"sources": ["sqs-failures"]})
        return subprocess.run(
            [sys.executable, "-m", "tests.integration.redrive_process", str(seconds), request, *flags],
            cwd=ROOT,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=False,
        )

    def report(self, seconds: float) -> dict[str, Any]:
        done = self.run(seconds)
        assert done.returncode == 0, done.stderr[-3000:]
        answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return answer

    def counts(self) -> tuple[int, int]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=names)["Attributes"]
        return int(attributes[names[0]]), int(attributes[names[1]])

    def on_the_stream(self) -> Counter[str]:
        return Counter(r["event"]["event_id"] for r in read_stream(self.kinesis, self.stream))


@pytest.mark.timeout(300)
def test_runs_in_their_own_processes_hide_nothing_and_bring_every_record_back_once(local_aws: LocalEndpoint) -> None:
    # GIVEN ten failure pointers of 14 records each, and runs of 14 s at 7 records/s (a few pointers each)
    queue = FailureQueue(local_aws, POINTERS)
    reports: list[dict[str, Any]] = []
    for _ in range(8):
        # WHEN runs follow one another, each in a new process
        report = queue.report(14)
        reports.append(report)
        visible, in_flight = queue.counts()
        # THEN no run leaves behind a message it received, hidden
        assert in_flight == 0, report
        # and one says complete only when the queue is empty
        if report["complete"]:
            assert visible == 0, report
            break
    assert reports[-1]["complete"], reports
    # (the first stops on its rate or its time part-way through the page of ten it received)
    assert reports[0].get("stopped") in ("rate", "deadline"), reports
    # and every record of every pointer is back on the stream once: twice in all, with its original
    assert queue.on_the_stream() == {f"f-{i}": 2 for i in range(POINTERS * RECORDS_PER_POINTER)}


@pytest.mark.timeout(240)
def test_a_run_that_died_holding_messages_leaves_the_next_run_incomplete_not_complete(local_aws: LocalEndpoint) -> None:
    # GIVEN three pointers, and a run whose process ends as soon as it has received them
    queue = FailureQueue(local_aws, 3)
    died = queue.run(14, "--die-after-receiving")
    assert died.returncode == 3, died.stderr[-2000:]
    assert queue.counts() == (0, 3)  # hidden by the run that died
    # WHEN the next run comes once the dead run's lease has ended (its invocation's 14 s) and while
    # the messages are still hidden (the run's time and a 30 s margin)
    time.sleep(14)
    report = queue.report(14)
    # THEN it brings back nothing and says what it could not reach, rather than "complete"
    assert report["complete"] is False, report
    assert report["stopped"] == "not_drained"
    assert report["left_for_next_run"] == {"sqs-failures": 3}
    assert queue.on_the_stream() == {f"f-{i}": 1 for i in range(3 * RECORDS_PER_POINTER)}
