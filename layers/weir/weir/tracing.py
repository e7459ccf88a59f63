"""One event's trace through the stream.

X-Ray follows a request through the API into the ingest function and stops at Kinesis: a consumer's
invocation is a trace of its own, for a batch of many events. So the ingest function stamps its trace
id on every event it takes (the envelope's ``trace_id``), and each consumer puts that id, with the
event id, on the work it does for the event: an X-Ray subsegment annotated ``event_id`` and
``ingest_trace_id`` (annotations are indexed: ``annotation.ingest_trace_id = "1-..."`` finds every
consumer trace of one ingest request), and every log line about the event (``event_id``, ``trace_id``).
The X-Ray SDK has no span links; an annotation is its searchable stand-in (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from weir.observability import tracer

# The header Lambda sets for each invocation: Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>
TRACE_HEADER = "_X_AMZN_TRACE_ID"
SUBSEGMENT = "## event"


def trace_id(environ: Mapping[str, str]) -> str | None:
    """The Root of the invocation's trace header, or None outside a traced invocation."""
    for part in environ.get(TRACE_HEADER, "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "Root" and value:
            return value
    return None


@contextmanager
def event_subsegment(event_id: str, ingest_trace_id: str | None) -> Iterator[None]:
    """The consumer's work for one event, as a subsegment that names the event and its ingest trace.

    With tracing off (Powertools' POWERTOOLS_TRACE_DISABLED, or no X-Ray daemon), the SDK hands out a
    dummy subsegment and this costs nothing."""
    with tracer.provider.in_subsegment(name=SUBSEGMENT) as subsegment:
        if subsegment is not None:  # the SDK's answer when it found no segment to add to
            subsegment.put_annotation(key="event_id", value=event_id)
            if ingest_trace_id:
                subsegment.put_annotation(key="ingest_trace_id", value=ingest_trace_id)
        yield
