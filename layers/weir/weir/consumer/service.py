"""One consumer invocation: a Kinesis batch through the key-ordered processor, behind the breaker."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

from weir.breaker.circuit import Breaker
from weir.config import ConsumerConfig
from weir.consumer.batch import KeyOrderedBatchProcessor, KeyThreads
from weir.consumer.deaggregate import open_aggregates, without_repeats
from weir.consumer.processor import EventProcessor
from weir.deadline import Deadline
from weir.observability import logger, metrics

# While the breaker is open, a batch is held (the sink probed) for this share of the invocation's
# remaining time; the rest is for processing it once the sink answers.
HOLD_SHARE_OF_REMAINING_TIME = 0.75


class ConsumerService:
    """Everything one consumer invocation needs, built once at cold start."""

    def __init__(
        self,
        config: ConsumerConfig,
        processor: EventProcessor,
        idempotency: list[IdempotencyConfig],
        writers: KeyThreads | None = None,
        breaker: Breaker | None = None,
    ) -> None:
        self.config = config
        self.processor = processor
        self.idempotency = idempotency
        self.writers = writers
        self.breaker = breaker
        self.batch = KeyOrderedBatchProcessor(config.key_concurrency, writers)

    def handle_batch(self, event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        # Lets an IN_PROGRESS idempotency record expire when this invocation's time runs out,
        # so a timed-out invocation cannot block its records forever.
        for config in self.idempotency:
            config.register_lambda_context(context)
        if self.breaker is not None and self.breaker.blocking():
            held = self._hold(event, context)
            if held is not None:
                return held
        try:
            response = process_partial_response(
                event=open_aggregates(event),
                record_handler=self.processor.handle,
                processor=self.batch,
                context=context,
            )
        finally:
            self.processor.flush_metrics()
        response["batchItemFailures"] = without_repeats(response.get("batchItemFailures", []))
        metrics.add_metric(
            name="RecordsFailed", unit=MetricUnit.Count, value=len(response.get("batchItemFailures", []))
        )
        return response

    def _hold(self, event: dict[str, Any], context: Any) -> PartialItemFailureResponse | None:
        """The breaker is open: probe the sink while this invocation has time, instead of failing
        the batch at once (each failed batch is one of the mapping's retries). None once the
        breaker lets batches through; else the whole batch reported failed from its first record,
        so the mapping keeps every record (the checkpoint does not move)."""
        assert self.breaker is not None
        remaining = context.get_remaining_time_in_millis() / 1000.0
        # leave the batch time to be processed after a successful probe
        deadline = Deadline(max(0.0, remaining * HOLD_SHARE_OF_REMAINING_TIME))
        logger.warning("circuit breaker open: holding the batch and probing the sink")
        if self.breaker.hold(deadline):
            logger.info("circuit breaker lets batches through again")
            return None
        records = event.get("Records", [])
        metrics.add_metric(name="BatchesHeldByBreaker", unit=MetricUnit.Count, value=1)
        if not records:
            return {"batchItemFailures": []}
        return {"batchItemFailures": [{"itemIdentifier": records[0]["kinesis"]["sequenceNumber"]}]}
