"""The one place that creates the Powertools Logger, Tracer and Metrics objects.

Service name and metrics namespace come from the standard ``POWERTOOLS_SERVICE_NAME`` and
``POWERTOOLS_METRICS_NAMESPACE`` variables that template.yaml sets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from weir.breaker.state import State, Status

if TYPE_CHECKING:
    from weir.producer import ProducerStats

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def record_producer_stats(stats: ProducerStats) -> None:
    """Emit one :meth:`weir.producer.Producer.put`'s figures as metrics."""
    metrics.add_metric(name="PutRecordsCalls", unit=MetricUnit.Count, value=stats.calls)
    metrics.add_metric(name="RecordsOffered", unit=MetricUnit.Count, value=stats.records)
    metrics.add_metric(name="EntriesSent", unit=MetricUnit.Count, value=stats.entries_sent)
    metrics.add_metric(name="ThrottledEntries", unit=MetricUnit.Count, value=stats.throttled_entries)
    metrics.add_metric(name="ResubmittedEntries", unit=MetricUnit.Count, value=stats.resubmitted_entries)
    metrics.add_metric(name="WholeCallErrors", unit=MetricUnit.Count, value=stats.whole_call_errors)
    metrics.add_metric(name="ProducerRounds", unit=MetricUnit.Count, value=stats.rounds)
    metrics.add_metric(name="ProducerLatency", unit=MetricUnit.Milliseconds, value=stats.elapsed * 1000)
    # time the shard rates held records back client-side instead of sending them to be throttled
    metrics.add_metric(name="ShardRateWait", unit=MetricUnit.Milliseconds, value=stats.rate_wait_seconds * 1000)


def log_breaker_change(old: Status, new: Status) -> None:
    """One log line (and, on opening, one metric) for every change of the circuit breaker."""
    logger.warning(
        "circuit breaker changed",
        extra={
            "breaker_from": old.state.value,
            "breaker_to": new.state.value,
            "breaker_reason": new.reason,
            "breaker_forced": new.forced,
            "breaker_hold_seconds": new.hold,
        },
    )
    if new.state is State.OPEN and old.state is not State.OPEN:
        metrics.add_metric(name="BreakerOpened", unit=MetricUnit.Count, value=1)
