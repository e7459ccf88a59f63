"""Health probes of a sink's write path, for the breaker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError


def write_probe(client: Any, table: str, key_name: str) -> Callable[[], bool]:
    """A probe of the sink's write path that writes nothing: a conditional put whose condition can
    never hold. A healthy table answers ConditionalCheckFailedException (the write path ran); a
    throttled or failing one answers its error."""
    probe_key = "__weir_breaker_probe__"

    def probe() -> bool:
        try:
            client.put_item(
                TableName=table,
                Item={key_name: {"S": probe_key}},
                ConditionExpression=f"attribute_exists({key_name}) AND attribute_not_exists({key_name})",
            )
        except ClientError as exc:
            return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
        except BotoCoreError:
            return False
        return True  # cannot happen with that condition; a written probe item still means a healthy sink

    return probe
