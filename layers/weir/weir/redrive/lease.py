"""One redrive run at a time, without reserved concurrency: a lease in DynamoDB.

Two concurrent runs would receive and re-put the same items. Reserved concurrency of 1 prevented
that, but a new account cannot reserve any concurrency (docs/configuration.md). The lease is one
item in the attempts table, taken with a conditional write that succeeds only when nobody holds it
or the holder's lease has ended; it ends by itself when the run's Lambda timeout has passed, so a
run that crashed never blocks the next one for longer than that.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")

LEASE_ID = "lease#redrive"


@dataclass(frozen=True)
class Holder:
    owner: str
    until: float  # epoch seconds

    def describe(self) -> str:
        return f"{self.owner} until {self.until:.0f} (epoch seconds)"


class RunLease:
    def __init__(
        self, dynamodb: Any, table: str, clock: Callable[[], float] = time.time, lease_id: str = LEASE_ID
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._clock = clock
        self._id = lease_id  # one lease per kind of run: the redrive's, the replay's

    def acquire(self, owner: str, seconds: float) -> Holder | None:
        """Take the lease for ``seconds``; None when taken, else who holds it and until when."""
        now = self._clock()
        until = now + seconds
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": self._id},
                    "owner": {"S": owner},
                    "until": {"N": f"{until:.3f}"},
                    "expiration": {"N": str(int(until) + 3600)},  # the table's TTL tidies old leases
                },
                ConditionExpression="attribute_not_exists(id) OR #until < :now",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return self.holder() or Holder("unknown", now)
        return None

    def holder(self) -> Holder | None:
        item = self._dynamodb.get_item(TableName=self._table, Key={"id": {"S": self._id}}, ConsistentRead=True).get(
            "Item"
        )
        return Holder(item["owner"]["S"], float(item["until"]["N"])) if item else None

    def release(self, owner: str) -> None:
        """Give the lease back, if it is still ours."""
        try:
            self._dynamodb.delete_item(
                TableName=self._table,
                Key={"id": {"S": self._id}},
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise


def under_lease(
    lease: RunLease | None, owner: str, seconds: float, work: Callable[[], T], taken: Callable[[Holder], T]
) -> T:
    """``work()`` while holding ``lease`` (for ``seconds``), given back after whatever happens; or
    ``taken(holder)`` when another run holds it. Without a lease, ``work()``."""
    if lease is None:
        return work()
    holder = lease.acquire(owner, seconds)
    if holder is not None:
        return taken(holder)
    try:
        return work()
    finally:
        lease.release(owner)
