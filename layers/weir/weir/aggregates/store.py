"""The aggregates table: one item per window and type."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from weir.aggregates.window import Window


class DynamoDBAggregates:
    """One item per window and type: ``window_start`` (key), ``type`` (sort key), ``count``,
    ``window_end`` and ``segments`` (what has been added, so that nothing is added twice)."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def commit(self, window: Window, counts: Mapping[str, int], segment: str) -> None:
        for type_, count in sorted(counts.items()):
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key={"window_start": {"S": window.start}, "type": {"S": type_}},
                    UpdateExpression="ADD #count :n, #segments :segment SET window_end = :end",
                    ConditionExpression="attribute_not_exists(#segments) OR NOT contains(#segments, :id)",
                    ExpressionAttributeNames={"#count": "count", "#segments": "segments"},  # reserved words
                    ExpressionAttributeValues={
                        ":n": {"N": str(count)},
                        ":segment": {"SS": [segment]},
                        ":id": {"S": segment},
                        ":end": {"S": window.end},
                    },
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise  # the whole commit is retried; the types already added are skipped then


def totals(items: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Counts per type over the aggregates table's items (as DynamoDB returns them)."""
    found: dict[str, int] = {}
    for item in items:
        found[item["type"]["S"]] = found.get(item["type"]["S"], 0) + int(item["count"]["N"])
    return found
