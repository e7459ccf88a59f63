"""The producer against a real Kinesis wire protocol (kinesalite behind the local gateway), with faults."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.aws_helpers import read_stream
from tests.endpoint import LocalEndpoint
from weir import aws
from weir.aws import ClientSettings
from weir.backoff import Backoff
from weir.deadline import Deadline
from weir.producer import Producer, ProducerSettings, Record
from weir.resubmit import DEADLINE_EXCEEDED

pytestmark = pytest.mark.integration

PTE = "ProvisionedThroughputExceededException"


def producer(stream: str, *, read_timeout: float = 2.0, max_attempts: int = 8) -> Producer:
    settings = ClientSettings(connect_timeout=1.0, read_timeout=read_timeout, max_attempts=1)
    return Producer(
        aws.client("kinesis", settings),
        stream,
        call_seconds=settings.worst_case_seconds,
        settings=ProducerSettings(max_attempts=max_attempts, backoff=Backoff(base=0.02, cap=0.2)),
    )


def batch(n: int, prefix: str, keys: int = 16) -> list[Record]:
    return [Record(f'{{"event_id":"{prefix}-{i}"}}'.encode(), f"key-{i % keys}") for i in range(n)]


def written_ids(stream: str) -> Counter[str]:
    return Counter(r["event"]["event_id"] for r in read_stream(aws.client("kinesis", ClientSettings()), stream))


def test_entries_failed_with_throughput_exceeded_are_written_exactly_once(
    local_aws: LocalEndpoint, stream: str
) -> None:
    # GIVEN a stream that fails about half the entries of the next three PutRecords calls
    fault = local_aws.add_fault(service="kinesis", error=PTE, per_entry=True, probability=0.5, count=3)
    # WHEN 300 records are put
    result = producer(stream).put(batch(300, "pte"), Deadline(30))
    # THEN every record is on the stream exactly once, and the producer says where
    assert result.all_ok, [o for o in result.outcomes if not o.ok][:3]
    assert written_ids(stream) == Counter({f"pte-{i}": 1 for i in range(300)})
    # three throttled calls, then one with the remaining entries; the fault retired after its three
    assert result.stats.throttled_entries > 0
    assert result.stats.calls == 4
    assert fault not in [f["id"] for f in local_aws.faults()]


def test_the_shard_write_limit_throttles_entries_and_every_record_still_lands_once(
    local_aws: LocalEndpoint, stream: str
) -> None:
    # GIVEN one hot partition key, so every record goes to one shard (1,000 records/s)
    records = [Record(f'{{"event_id":"hot-{i}"}}'.encode(), "the-hot-key") for i in range(2500)]
    # WHEN 2,500 records are put at once
    result = producer(stream, max_attempts=30).put(records, Deadline(30))
    # THEN the shard throttled entries inside 200 responses, and resubmission wrote each exactly once
    assert result.stats.throttled_entries >= 1000
    assert result.all_ok
    assert written_ids(stream) == Counter({f"hot-{i}": 1 for i in range(2500)})


def test_an_endpoint_that_hangs_makes_the_call_return_within_its_deadline(
    local_aws: LocalEndpoint, stream: str
) -> None:
    # GIVEN a Kinesis endpoint that answers PutRecords only after 5 s
    local_aws.add_fault(service="kinesis", operation="PutRecords", latency_ms=5000)
    # WHEN the producer, with a 0.3 s read timeout, gets a 1.5 s deadline
    started = time.monotonic()
    result = producer(stream, read_timeout=0.3).put(batch(3, "hang"), Deadline(1.5))
    elapsed = time.monotonic() - started
    # THEN it returns within its deadline, not after the endpoint's 5 s, with the reason for every record
    # (the slack is the scheduler's: up to a second when the machine's cores are busy with other work)
    assert elapsed < 1.5 + 1.0, elapsed
    assert all(o.error_code == DEADLINE_EXCEEDED for o in result.outcomes)
    assert all("ReadTimeoutError" in (o.error_message or "") for o in result.outcomes)


def test_a_dropped_connection_is_retried(local_aws: LocalEndpoint, stream: str) -> None:
    fault = local_aws.add_fault(service="kinesis", operation="PutRecords", drop=True, count=1)
    result = producer(stream).put(batch(5, "drop"), Deadline(10))
    assert result.all_ok
    assert result.stats.whole_call_errors == 1
    assert written_ids(stream) == Counter({f"drop-{i}": 1 for i in range(5)})
    assert not [f for f in local_aws.faults() if f["id"] == fault]  # it fired once and retired


def test_a_permanent_error_is_not_retried(local_aws: LocalEndpoint, stream: str) -> None:
    fault = local_aws.add_fault(service="kinesis", operation="PutRecords", error="KMSDisabledException", status=400)
    result = producer(stream).put(batch(4, "kms"), Deadline(10))
    assert local_aws.fired(fault) == 1
    assert all(o.error_code == "KMSDisabledException" and o.attempts == 1 for o in result.outcomes)


def test_fis_throughput_exception_action_throttles_whole_calls(local_aws: LocalEndpoint, stream: str) -> None:
    # aws:kinesis:stream-provisioned-throughput-exception on PutRecords, reproduced locally for two calls
    local_aws.add_fault(
        fis_action="aws:kinesis:stream-provisioned-throughput-exception", operation="PutRecords", count=2
    )
    result = producer(stream).put(batch(3, "fis"), Deadline(10))
    assert result.all_ok
    assert result.stats.whole_call_errors == 2
