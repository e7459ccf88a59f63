"""One redrive run: take items from each source, put their records back, and report what is left."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from weir import kpl
from weir.deadline import Deadline, LambdaContextLike
from weir.failures import MalformedFailureRecord, RecordsExpired
from weir.observability import logger
from weir.origin import REDRIVE, envelope_of, marked
from weir.producer import Producer, Record
from weir.redrive.attempts import AttemptCounter, record_identity
from weir.redrive.lease import Holder, RunLease, under_lease
from weir.redrive.limiter import RateLimiter
from weir.redrive.recount import AggregateRecount
from weir.redrive.request import RedriveRequest, SourceName, parse_request
from weir.redrive.sources import Item, Source


@dataclass
class RedriveReport:
    dry_run: bool
    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    complete: bool = True
    # Why the run ended before every source was drained: max_items, deadline, rate, lease, not_drained.
    stopped: str | None = None
    # Per source, about how many items wait for the next run (only when the run did not finish).
    left_for_next_run: dict[str, int] = field(default_factory=dict)
    lease_holder: str | None = None

    def stop(self, why: str) -> None:
        self.complete = False
        self.stopped = self.stopped or why

    def to_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "dry_run": self.dry_run,
            "complete": self.complete,
            "counts": {k: dict(v) for k, v in self.counts.items()},
        }
        if not self.complete:
            answer |= {"stopped": self.stopped, "left_for_next_run": self.left_for_next_run}
        if self.lease_holder:
            answer["lease_holder"] = self.lease_holder
        return answer


class RedriveService:
    def __init__(
        self,
        sources: dict[SourceName, Source],
        producer: Producer,
        attempts: AttemptCounter,
        max_attempts: int,
        limiter: RateLimiter,
        lease: RunLease | None = None,
        safety_margin_seconds: float = 5.0,
        recount: AggregateRecount | None = None,
    ) -> None:
        self.sources = sources
        self.producer = producer
        self.attempts = attempts
        self.max_attempts = max_attempts
        self.limiter = limiter
        self.lease = lease
        self.safety_margin_seconds = safety_margin_seconds
        self.recount = recount

    def handle(self, event: Any, context: LambdaContextLike) -> dict[str, Any]:
        """The function's work: one run under the lease, within the invocation's remaining time."""
        request = parse_request(event)
        remaining = context.get_remaining_time_in_millis() / 1000.0
        deadline = Deadline.for_invocation(context, remaining, self.safety_margin_seconds)
        owner = str(getattr(context, "aws_request_id", "") or id(self))

        def taken(holder: Holder) -> dict[str, Any]:
            report = RedriveReport(dry_run=False)
            report.stop("lease")
            report.lease_holder = holder.describe()
            return report.to_json()

        # Dry runs too: they hold the messages they look at invisible while they run.
        return under_lease(self.lease, owner, remaining, lambda: self.run(request, deadline).to_json(), taken)

    def run(self, request: RedriveRequest, deadline: Deadline) -> RedriveReport:
        report = RedriveReport(dry_run=request.dry_run)
        taken = 0
        names = [n for n in request.sources if n in self.sources]
        for name in request.sources:
            if name not in self.sources:
                report.counts[name]["not_configured"] += 1
        for position, name in enumerate(names):
            source = self.sources[name]
            items = source.items(request, deadline)
            try:
                for item in items:
                    if request.max_items is not None and taken >= request.max_items:
                        report.stop("max_items")
                    elif deadline.remaining() < 2 * self.producer.call_seconds:
                        report.stop("deadline")  # room for one re-put and the item's delete, or stop cleanly
                    elif not self._one(source, item, request, deadline, report.counts[name]):
                        report.stop("rate")
                    else:
                        taken += 1
                        continue
                    source.release(item)
                    break
            finally:
                items.close()
                source.let_go()  # a queue source makes what it still holds visible again
            if report.stopped is None and not source.drained:
                report.stop("not_drained")  # the queue never agreed it was empty, or time ran out
            if report.stopped is not None:
                # Say what waits for the next run, here and in the sources this run did not reach.
                for later in names[position:]:
                    report.left_for_next_run[later] = self.sources[later].remaining()
                break
        return report

    def _one(
        self, source: Source, item: Item, request: RedriveRequest, deadline: Deadline, counts: Counter[str]
    ) -> bool:
        """Handle one item; False (and nothing done, nothing counted) when the rate limiter refuses it."""
        if self.recount is not None:
            try:
                failure = self.recount.failure_of(item)
                if failure is not None:
                    return self._recount(source, item, failure, request, counts)
            except MalformedFailureRecord as exc:
                return self._park(source, item, request, counts, "unrecoverable", f"cannot be read: {exc}")
            except RecordsExpired as exc:
                reason = f"records expired from the table's stream: {exc}"
                return self._park(source, item, request, counts, "unrecoverable", reason)
        try:
            records = source.records(item)
        except RecordsExpired as exc:
            return self._park(source, item, request, counts, "unrecoverable", f"records expired from the stream: {exc}")
        except MalformedFailureRecord as exc:
            return self._park(source, item, request, counts, "unrecoverable", f"cannot be read: {exc}")
        identities = [record_identity(r) for r in records]
        if request.dry_run:
            counts["items"] += 1
            counts["would_redrive_records"] += len(records)
            source.release(item)
            return True
        # Each record was put back this often, and every time it came back.
        put_back = max((self.attempts.count(identity) for identity in identities), default=0)
        if put_back >= self.max_attempts:
            reason = f"put back on the stream {put_back} times and failed each time; the bound is {self.max_attempts}"
            return self._park(source, item, request, counts, "attempts_exhausted", reason, event_ids(records))
        # the wait leaves the re-put its call's time: a wait to the deadline's edge would leave none,
        # and every later run would wait to its edge again and put nothing
        if not self.limiter.wait_for(len(records), deadline.sub(2 * self.producer.call_seconds)):
            return False
        counts["items"] += 1
        limit = self.producer.settings.limits.max_record_bytes
        result = self.producer.put([marked(r, REDRIVE, limit) for r in records], deadline)
        for identity, outcome in zip(identities, result.outcomes, strict=True):
            if outcome.ok:
                self.attempts.put_back(identity)  # counted only once it is really back on the stream
        if result.all_ok:
            source.done(item)
            counts["records_redriven"] += len(records)
            # an aggregated record (weir/kpl.py) puts back every event it holds
            counts["events_redriven"] += sum(kpl.user_record_count(r.data) for r in records)
            counts["items_redriven"] += 1
        else:
            # Some records are back on the stream, some not: keep the item; the next run re-puts all
            # of it and the consumer's idempotency removes the duplicates.
            source.release(item)
            counts["items_failed"] += 1
        return True

    def _recount(self, source: Source, item: Item, failure: Any, request: RedriveRequest, counts: Counter[str]) -> bool:
        """The aggregates consumer's failed batch: counted into its window, nothing put back on a stream."""
        assert self.recount is not None
        records = self.recount.records(failure)
        counts["items"] += 1
        counts["aggregate_items"] += 1
        if request.dry_run:
            counts["would_recount_events"] += sum(1 for r in records if r.get("eventName") == "INSERT")
            source.release(item)
            return True
        counts["aggregate_events_recounted"] += self.recount.recount(failure, records)
        counts["items_redriven"] += 1
        source.done(item)
        return True

    @staticmethod
    def _park(
        source: Source,
        item: Item,
        request: RedriveRequest,
        counts: Counter[str],
        outcome: str,
        reason: str,
        parked_ids: list[str] | None = None,
    ) -> bool:
        counts["items"] += 1
        counts[outcome] += 1
        if request.dry_run:
            source.release(item)
        else:
            source.unrecoverable(item, reason)
            # the event ids it holds, when it could be read: what make trace finds an event by
            logger.warning(
                "item parked as unrecoverable",
                extra={"source": item.source, "ref": item.ref, "outcome": outcome, "reason": reason[:500]}
                | ({"event_ids": parked_ids} if parked_ids else {}),
            )
        return True


def event_ids(records: list[Record]) -> list[str]:
    """The event ids of the envelopes ``records`` hold (each event of an aggregate)."""
    envelopes = (envelope_of(data) for record in records for data in kpl.user_data(record.data))
    return [str(envelope["event_id"]) for envelope in envelopes if envelope is not None]


def record_redrive_metrics(report: dict[str, Any]) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    from weir.observability import metrics

    totals: Counter[str] = Counter()
    for counts in report.get("counts", {}).values():
        totals.update(counts)
    for outcome in ("records_redriven", "items_redriven", "unrecoverable", "attempts_exhausted", "items_failed"):
        name = "Redrive" + "".join(part.title() for part in outcome.split("_"))
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=totals.get(outcome, 0))
    metrics.add_metric(name="RedriveRunsIncomplete", unit=MetricUnit.Count, value=0 if report["complete"] else 1)
