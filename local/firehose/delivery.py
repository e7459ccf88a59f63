"""A delivery stream of type KinesisStreamAsSource into S3, emulated: what the archive needs.

Every second it reads each shard of the source stream (from the trim horizon at start: the local
stream is as new as the delivery stream; new shards after a reshard from their own horizon) and
buffers the records. When the oldest buffered record has waited the buffer interval (the
template's, at most 60 s locally; 0 flushes every round) or the buffer holds the size hint, it
invokes the transformation function with Firehose's event (each record with its
``kinesisRecordMetadata``; an aggregated record opened into its user records, as Firehose does),
gzips the records it answered ``Ok`` into one object under the prefix (``!{timestamp:...}`` is the
oldest record's arrival, UTC) and the failed ones under the error prefix. Not emulated: Firehose's
retries of a failing transformation (a failed invocation's records go under the error prefix, as
Firehose writes them once its retries are spent), its 5 reads a second limit shared with the
consumers, its per-second throughput.
"""

from __future__ import annotations

import base64
import gzip
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.awslambda.functions import FunctionPool
from tools.readback import user_records

log = logging.getLogger("weir.firehose")

LOCAL_MAX_INTERVAL_SECONDS = 60
_TIMESTAMP = re.compile(r"!\{timestamp:([^}]+)\}")
# Java's date patterns, as Firehose's prefixes take them, to strftime's.
_JAVA_TO_STRFTIME = (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"))


def expand_prefix(prefix: str, oldest: datetime, error_type: str | None = None) -> str:
    """A Firehose custom prefix for an object whose oldest record arrived at ``oldest``."""

    def stamp(match: re.Match[str]) -> str:
        pattern = match.group(1)
        for java, python in _JAVA_TO_STRFTIME:
            pattern = pattern.replace(java, python)
        return oldest.astimezone(UTC).strftime(pattern)

    expanded = _TIMESTAMP.sub(stamp, prefix)
    return expanded.replace("!{firehose:error-output-type}", error_type or "processing-failed")


@dataclass
class _Buffered:
    record_id: str
    data: bytes
    shard_id: str
    partition_key: str
    sequence_number: str
    sub_sequence_number: int | None
    arrival: datetime


@dataclass
class DeliverySettings:
    name: str
    stream_name: str
    bucket: str
    prefix: str
    error_prefix: str
    interval_seconds: float
    size_bytes: int
    transform_arn: str | None

    @classmethod
    def from_properties(cls, props: dict[str, Any]) -> DeliverySettings:
        source = props["KinesisStreamSourceConfiguration"]
        destination = props["ExtendedS3DestinationConfiguration"]
        hints = destination.get("BufferingHints", {})
        transform = None
        for processor in destination.get("ProcessingConfiguration", {}).get("Processors", []):
            for parameter in processor.get("Parameters", []):
                if parameter["ParameterName"] == "LambdaArn":
                    transform = str(parameter["ParameterValue"])
        return cls(
            name=str(props["DeliveryStreamName"]),
            stream_name=str(source["KinesisStreamARN"]).rsplit("/", 1)[-1],
            bucket=str(destination["BucketARN"]).split(":::", 1)[-1],
            prefix=str(destination.get("Prefix", "")),
            error_prefix=str(destination.get("ErrorOutputPrefix", "errors/")),
            interval_seconds=min(float(hints.get("IntervalInSeconds", 300)), LOCAL_MAX_INTERVAL_SECONDS),
            size_bytes=int(hints.get("SizeInMBs", 5)) * 1024 * 1024,
            transform_arn=transform,
        )


@dataclass
class FirehoseDelivery:
    settings: DeliverySettings
    kinesis: Any
    s3: Any
    transform: FunctionPool | None
    objects_written: int = 0
    _iterators: dict[str, str | None] = field(default_factory=dict)
    _buffer: list[_Buffered] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FirehoseDelivery:
        self._thread = threading.Thread(target=self._run, name=f"firehose-{self.settings.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self._read()
                with self._lock:
                    oldest = self._buffer[0].arrival.timestamp() if self._buffer else None
                    size = sum(len(b.data) for b in self._buffer)
                if oldest is not None and (
                    time.time() - oldest >= self.settings.interval_seconds or size >= self.settings.size_bytes
                ):
                    self.flush()
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("firehose delivery %s: round failed; trying again", self.settings.name)

    def _read(self) -> None:
        shards = self.kinesis.list_shards(StreamName=self.settings.stream_name)["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self.kinesis.get_shard_iterator(
                    StreamName=self.settings.stream_name, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            iterator = self._iterators[shard_id]
            if iterator is None:
                continue  # a closed shard read to its end
            page = self.kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            self._iterators[shard_id] = page.get("NextShardIterator")
            with self._lock:
                for record in page["Records"]:
                    arrival = record["ApproximateArrivalTimestamp"]
                    arrival = arrival if arrival.tzinfo else arrival.replace(tzinfo=UTC)
                    for sub, (key, data) in user_records(record["PartitionKey"], bytes(record["Data"])):
                        self._buffer.append(
                            _Buffered(str(uuid.uuid4()), data, shard_id, key, record["SequenceNumber"], sub, arrival)
                        )

    def flush(self) -> None:
        """Deliver everything buffered: one object, and one of the failed records if any failed."""
        with self._lock:
            batch, self._buffer = self._buffer, []
        if not batch:
            return
        answers = self._transformed(batch)
        ok = [base64.b64decode(a["data"]) for a in answers if a.get("result") == "Ok"]
        failed = [b.data for b, a in zip(batch, answers, strict=True) if a.get("result") != "Ok"]
        oldest = min(b.arrival for b in batch)
        stamp = oldest.astimezone(UTC).strftime("%Y-%m-%d-%H-%M-%S")
        name = f"{self.settings.name}-1-{stamp}-{uuid.uuid4()}.gz"
        if ok:
            key = expand_prefix(self.settings.prefix, oldest) + name
            self.s3.put_object(Bucket=self.settings.bucket, Key=key, Body=gzip.compress(b"".join(ok)))
            self.objects_written += 1
        if failed:
            key = expand_prefix(self.settings.error_prefix, oldest, "processing-failed") + name
            self.s3.put_object(Bucket=self.settings.bucket, Key=key, Body=gzip.compress(b"\n".join(failed)))

    def _transformed(self, batch: list[_Buffered]) -> list[dict[str, Any]]:
        if self.transform is None:
            return [{"recordId": b.record_id, "result": "Ok", "data": base64.b64encode(b.data).decode()} for b in batch]
        event = {
            "invocationId": str(uuid.uuid4()),
            "deliveryStreamArn": f"arn:aws:firehose:local:deliverystream/{self.settings.name}",
            "sourceKinesisStreamArn": f"arn:aws:kinesis:local:stream/{self.settings.stream_name}",
            "records": [
                {
                    "recordId": b.record_id,
                    "approximateArrivalTimestamp": int(b.arrival.timestamp() * 1000),
                    "data": base64.b64encode(b.data).decode(),
                    "kinesisRecordMetadata": {
                        "shardId": b.shard_id,
                        "partitionKey": b.partition_key,
                        "approximateArrivalTimestamp": int(b.arrival.timestamp() * 1000),
                        "sequenceNumber": b.sequence_number,
                        "subsequenceNumber": b.sub_sequence_number,
                    },
                }
                for b in batch
            ],
        }
        invocation = self.transform.invoke(event)
        by_id = {r["recordId"]: r for r in invocation.payload.get("records", [])} if invocation.ok else {}
        return [by_id.get(b.record_id, {"recordId": b.record_id, "result": "ProcessingFailed"}) for b in batch]
