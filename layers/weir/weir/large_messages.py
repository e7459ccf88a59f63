"""Queue messages larger than SQS takes: the body goes to S3, the queue gets a pointer.

A poison record near the stream's record size limit, base64-encoded with its metadata, is larger
than SQS's 1 MiB (1,048,576 bytes per message); so is an overflow message wrapped again for the
unrecoverable queue. Sending either fails, and the record would be retried until it reached the
failure destination instead of the quarantine. Here such a body is written to S3 first and the
message carries a pointer with the caller's summary (the reason, where the record came from), so
the queue stays the one place an operator reads. Readers call :meth:`LargeMessageStore.resolve`,
which takes both forms.

Order of writes: the object, then the message (a crash in between leaves an unreferenced object,
never a pointer to nothing). Order of deletes: the message, then the object.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

POINTER_KIND = "weir.s3-pointer"
POINTER_VERSION = 1
# SQS's largest message, body and attributes together; the queues in template.yaml take it whole.
SQS_MAX_MESSAGE_BYTES = 1024 * 1024


class PointerError(ValueError):
    """A pointer message whose object is missing or does not match what the pointer says."""


@dataclass(frozen=True)
class Resolved:
    body: str
    object_key: str | None  # set when the body came from S3


class LargeMessageStore:
    def __init__(
        self,
        s3: Any,
        bucket: str,
        prefix: str,
        max_message_bytes: int = SQS_MAX_MESSAGE_BYTES,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not bucket:
            raise ValueError("a bucket for large message bodies is required")
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._max = max_message_bytes
        self._now = now

    def send(self, sqs: Any, queue_url: str, body: str, summary: Mapping[str, Any]) -> None:
        """Send ``body`` to the queue; through S3 when it is larger than the queue takes."""
        data = body.encode("utf-8")
        if len(data) <= self._max:
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
            return
        key = f"{self._prefix}/{self._now():%Y/%m/%d}/{uuid.uuid4()}.json"
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType="application/json")
        pointer = {
            "kind": POINTER_KIND,
            "version": POINTER_VERSION,
            "bucket": self._bucket,
            "key": key,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "summary": dict(summary),
        }
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(pointer, separators=(",", ":")))

    def resolve(self, body: str) -> Resolved:
        """The original body of a message, whichever form it was sent in."""
        pointer = _pointer(body)
        if pointer is None:
            return Resolved(body, None)
        try:
            data = self._s3.get_object(Bucket=pointer["bucket"], Key=pointer["key"])["Body"].read()
        except (ClientError, BotoCoreError) as exc:  # the caller decides: unrecoverable, with this reason
            raise PointerError(f"s3://{pointer['bucket']}/{pointer['key']} cannot be read: {exc}") from None
        if hashlib.sha256(data).hexdigest() != pointer.get("sha256"):
            raise PointerError(f"s3://{pointer['bucket']}/{pointer['key']} does not match its pointer's sha256")
        return Resolved(data.decode("utf-8"), str(pointer["key"]))

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=key)


def _pointer(body: str) -> dict[str, Any] | None:
    if POINTER_KIND not in body[:200]:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("kind") == POINTER_KIND:
        return document
    return None
