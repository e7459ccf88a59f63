"""One replay run: read the range shard by shard, put back what the request wants, keep its place."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from weir.deadline import Deadline, LambdaContextLike
from weir.origin import COUNTED_BEFORE, REPLAY, envelope_of, with_fields
from weir.producer import Producer, Record
from weir.redrive.lease import Holder, RunLease, under_lease
from weir.redrive.limiter import RateLimiter
from weir.replay.cursor import CursorStore, Place
from weir.replay.request import ReplayRequest, parse_request
from weir.replay.stream_source import StreamRecord
from weir.texts import iso_millis

# Records read before they are checked against the table and put back: a PutRecords call's worth.
BATCH_RECORDS = 500


class Stored(Protocol):
    def which(self, event_ids: list[str]) -> set[str]: ...


class Reader(Protocol):
    """Where a replay reads (weir.replay.stream_source, weir.archive.reader): its parts ("shards":
    the stream's shards, the archive's objects), their records in [start, end) from after a place,
    and how far back it keeps records (None: as long as it was told)."""

    def shards(self, start: datetime, end: datetime) -> list[dict[str, Any]]: ...

    def retention_hours(self) -> int | None: ...

    def records(
        self, shard_id: str, start: datetime, after: str | None, end: datetime
    ) -> Generator[StreamRecord, None, None]: ...


@dataclass
class ReplayReport:
    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)
    complete: bool = True
    stopped: str | None = None  # deadline, rate, put_failed, max_records, lease
    shards: dict[str, int] = field(default_factory=lambda: {"finished": 0, "total": 0})
    notes: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)  # put back (report_ids)
    lease_holder: str | None = None

    def stop(self, why: str) -> None:
        self.complete = False
        self.stopped = self.stopped or why

    def to_json(self, with_ids: bool) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "dry_run": self.dry_run,
            "complete": self.complete,
            "counts": {k: self.counts[k] for k in COUNTS if k in self.counts or k in ("read", "replayed")},
            "shards": self.shards,
        }
        if not self.complete:
            answer["stopped"] = self.stopped
        if self.notes:
            answer["notes"] = self.notes
        if self.lease_holder:
            answer["lease_holder"] = self.lease_holder
        if with_ids:
            answer["event_ids"] = self.event_ids
        return answer


# What a run counts, in the order it reports them.
COUNTS = ("read", "unreadable", "filtered_out", "already_stored", "replayed", "would_replay")


class ReplayService:
    def __init__(
        self,
        readers: dict[str, Reader],
        producer: Producer,
        limiter: RateLimiter,
        cursors: CursorStore,
        stored: Stored | None,
        lease: RunLease | None = None,
        safety_margin_seconds: float = 5.0,
        batch_records: int = BATCH_RECORDS,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.readers = readers
        self.producer = producer
        self.limiter = limiter
        self.cursors = cursors
        self.stored = stored
        self.lease = lease
        self.safety_margin_seconds = safety_margin_seconds
        self.batch_records = batch_records
        self.now = now

    def handle(self, event: Any, context: LambdaContextLike) -> dict[str, Any]:
        """The function's work: one run under the replay lease, within the invocation's time."""
        request = parse_request(event)
        remaining = context.get_remaining_time_in_millis() / 1000.0
        deadline = Deadline.for_invocation(context, remaining, self.safety_margin_seconds)
        owner = str(getattr(context, "aws_request_id", "") or id(self))

        def taken(holder: Holder) -> dict[str, Any]:
            report = ReplayReport(dry_run=request.dry_run)
            report.stop("lease")
            report.lease_holder = holder.describe()
            return report.to_json(False)

        return under_lease(
            self.lease, owner, remaining, lambda: self.run(request, deadline).to_json(request.report_ids), taken
        )

    def run(self, request: ReplayRequest, deadline: Deadline) -> ReplayReport:
        now = self.now()
        if request.start > now:
            raise ValueError(f"invalid replay request: from ({iso_millis(request.start)}) is in the future")
        reader = self.readers.get(request.source)
        if reader is None:
            raise ValueError(f"invalid replay request: source: the stack has no {request.source} (ArchiveEnabled?)")
        report = ReplayReport(dry_run=request.dry_run)
        self._note_retention(request, now, reader, report)
        # A dry run reads the whole range and keeps no place; a real run goes on where the last stopped.
        place = Place() if request.dry_run else self.cursors.load(request.fingerprint())
        shards = reader.shards(request.start, request.end)
        report.shards["total"] = len(shards)
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in place.finished and not self._shard(request, reader, shard_id, place, deadline, report):
                break
            report.shards["finished"] += 1
        if report.complete and not request.dry_run:
            self.cursors.forget(request.fingerprint())  # done: the same request again replays anew
        return report

    def _shard(
        self,
        request: ReplayRequest,
        reader: Reader,
        shard_id: str,
        place: Place,
        deadline: Deadline,
        report: ReplayReport,
    ) -> bool:
        """Replay one shard's part of the range; False when the run stopped before its end."""
        batch: list[StreamRecord] = []
        records = reader.records(shard_id, request.start, place.positions.get(shard_id), request.end)
        try:
            for record in records:
                # Decide only between Kinesis records: the user records of an aggregate share its
                # sequence number, which is all a place can name, so an aggregate is never cut.
                if not batch or record.sequence_number != batch[-1].sequence_number:
                    why = None
                    if request.max_records is not None and report.counts["read"] + len(batch) >= request.max_records:
                        why = "max_records"
                    elif not deadline.allows(3 * self.producer.call_seconds):
                        why = "deadline"
                    if why is not None:
                        self._flush(request, shard_id, batch, place, deadline, report)
                        report.stop(why)
                        return False
                    if len(batch) >= self.batch_records:
                        if not self._flush(request, shard_id, batch, place, deadline, report):
                            return False
                        batch = []
                batch.append(record)
            if not self._flush(request, shard_id, batch, place, deadline, report):
                return False
        finally:
            records.close()
        place.finished.add(shard_id)
        self._save(request, place)
        return True

    def _flush(
        self,
        request: ReplayRequest,
        shard_id: str,
        batch: list[StreamRecord],
        place: Place,
        deadline: Deadline,
        report: ReplayReport,
    ) -> bool:
        """Check, filter and put back ``batch``; its place is kept only when all of it is back. Its
        counts join the report only then: a batch a run could not finish is read again by the next."""
        if not batch:
            return True
        counts: Counter[str] = Counter(read=len(batch))
        wanted: list[tuple[StreamRecord, str]] = []
        for record in batch:
            envelope = envelope_of(record.data)
            if envelope is None:
                counts["unreadable"] += 1  # no event in it: the quarantine's, not a replay's
            elif not request.wants(envelope, record.partition_key):
                counts["filtered_out"] += 1
            else:
                wanted.append((record, str(envelope["event_id"])))
        stored = self.stored.which([i for _, i in wanted]) if self.stored is not None and wanted else set()
        counts["already_stored"] += len(stored)
        to_put = wanted if request.every_event else [(r, i) for r, i in wanted if i not in stored]
        if request.dry_run:
            counts["would_replay"] += len(to_put)
            report.counts.update(counts)
            return True
        if to_put:
            # the wait leaves the put its call's time: a wait to the deadline's edge would leave none
            if not self.limiter.wait_for(len(to_put), deadline.sub(2 * self.producer.call_seconds)):
                report.stop("rate")  # the run's time would end before the rate lets this batch go
                return False
            marks: dict[str, object] = {"origin": REPLAY}
            if not request.recount:
                marks[COUNTED_BEFORE] = True
            limit = self.producer.settings.limits.max_record_bytes
            records = []
            for record, _ in to_put:
                again = Record(with_fields(record.data, marks), record.partition_key)
                records.append(again if again.size <= limit else Record(record.data, record.partition_key))
            result = self.producer.put(records, deadline)
            ok = [event_id for (_, event_id), outcome in zip(to_put, result.outcomes, strict=True) if outcome.ok]
            report.counts["replayed"] += len(ok)
            if request.report_ids:
                report.event_ids += ok
            if not result.all_ok:
                # What did go back is harmless to put again: the next run starts at this batch.
                report.stop("put_failed")
                return False
        report.counts.update(counts)
        place.positions[shard_id] = batch[-1].sequence_number
        self._save(request, place)
        return True

    def _save(self, request: ReplayRequest, place: Place) -> None:
        if not request.dry_run:
            self.cursors.save(request.fingerprint(), place)

    def _note_retention(self, request: ReplayRequest, now: datetime, reader: Reader, report: ReplayReport) -> None:
        """Say so when the range starts before the source's retention: AT_TIMESTAMP then silently
        starts at the oldest record left, and what is older is gone (from the stream, or expired
        from the archive by its lifecycle)."""
        hours = reader.retention_hours()
        oldest = now - timedelta(hours=hours) if hours is not None else None
        if oldest is not None and request.start < oldest:
            report.notes.append(
                f"from is before the {request.source}'s retention: records that arrived before about "
                f"{iso_millis(oldest)} are no longer there, and the replay starts at the oldest one left"
            )
