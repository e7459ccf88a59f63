"""SQS's batch calls refused whole, as SQS refuses them, before the backend sees them.

SQS checks a batch call's entries before it acts on any of them: more than ten entries, an entry id
that is not 1-80 letters, digits, hyphens or underscores, two entries with one id, or no entry at all
refuse the whole call and nothing is sent, deleted or changed (AWS's API reference lists these errors
for SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch; the codes and messages are
the ones recorded against AWS in tests/fixtures/aws-recorded/sqs-batches.json). moto checks some of
this for SendMessageBatch only, and answers the others entry by entry, so the gateway checks all three
the same way here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BATCH_OPERATIONS = {
    "SendMessageBatch": "SendMessageBatchRequestEntry",
    "DeleteMessageBatch": "DeleteMessageBatchRequestEntry",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibilityBatchRequestEntry",
}
MAX_ENTRIES = 10
_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
# The query protocol numbers its entries: DeleteMessageBatchRequestEntry.3.Id (or Entries.member.3.Id).
_QUERY_ENTRY_ID = re.compile(r"^[A-Za-z]+(?:\.member)?\.(\d+)\.Id$")


@dataclass(frozen=True)
class Refusal:
    code: str  # the query-compatible code AWS answers with, e.g. AWS.SimpleQueueService.InvalidBatchEntryId
    message: str


def entry_ids(params: Mapping[str, Any], json_protocol: bool) -> list[str]:
    """The batch's entry ids, in order, from either of SQS's protocols."""
    if json_protocol:
        entries = params.get("Entries")
        if not isinstance(entries, list):
            return []
        return [str(entry.get("Id", "")) if isinstance(entry, dict) else "" for entry in entries]
    numbered = sorted(
        (int(found[1]), str(value)) for key, value in params.items() if (found := _QUERY_ENTRY_ID.match(key))
    )
    return [value for _, value in numbered]


def refusal(operation: str, params: Mapping[str, Any], json_protocol: bool) -> Refusal | None:
    """Why SQS refuses this batch call whole, or None when it does not."""
    entry_name = BATCH_OPERATIONS.get(operation)
    if entry_name is None:
        return None
    ids = entry_ids(params, json_protocol)
    if not ids:
        return Refusal(
            "AWS.SimpleQueueService.EmptyBatchRequest", f"There should be at least one {entry_name} in the request."
        )
    if len(ids) > MAX_ENTRIES:
        return Refusal(
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_ENTRIES}. You have sent {len(ids)}.",
        )
    if any(not _ENTRY_ID.fullmatch(entry_id) for entry_id in ids):
        return Refusal(
            "AWS.SimpleQueueService.InvalidBatchEntryId",
            "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
            "It can be at most 80 letters long.",
        )
    seen: set[str] = set()
    for entry_id in ids:
        if entry_id in seen:
            return Refusal("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", f"Id {entry_id} repeated.")
        seen.add(entry_id)
    return None
