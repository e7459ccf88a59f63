"""Archive: Firehose's data transformation, each record from the stream to an archived line with its
shard, sequence number, partition key and arrival time (weir.archive)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from weir.archive.transform import transform
from weir.observability import logger


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    answer = transform(event)
    failed = sum(1 for r in answer["records"] if r["result"] != "Ok")
    if failed:
        logger.warning("records Firehose will write under the error prefix", extra={"failed": failed})
    return answer
