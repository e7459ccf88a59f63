"""What make trace says for each place an event can be, from what it found (tools.trace.render)."""

from __future__ import annotations

from tools.trace import Finding, render


def test_an_event_the_redrive_parked_is_in_the_unrecoverable_queue_with_the_reason() -> None:
    finding = Finding(
        "e-1",
        answered={"message": "request answered", "accepted_at": "2026-12-06T10:00:00.000Z", "trace_id": "1-a-b"},
        fate="written",
        parked={
            "message": "item parked as unrecoverable",
            "source": "s3-failures",
            "reason": "put back on the stream 3 times and failed each time; the bound is 3",
            "event_ids": ["e-1"],
        },
        queues={"unrecoverable queue": 1},
    )
    assert finding.known
    text = render(finding)
    assert "where      unrecoverable queue (the redrive parked the s3-failures item holding it)" in text
    assert "reason     put back on the stream 3 times" in text
    assert "note" not in text  # the place is known: no guess from the queue's count


def test_a_stored_event_says_where_it_was_read_its_latency_and_its_origin() -> None:
    item = {
        "event_id": "e-2",
        "type": "order.placed",
        "accepted_at": "2026-12-06T10:00:00.000Z",
        "stored_at": "2026-12-06T10:00:01.250Z",
        "trace_id": "1-a-b",
        "stream_shard_id": "shardId-000000000001",
        "stream_sequence_number": "4962",
        "stream_sub_sequence_number": 3,
        "origin": "replay",
    }
    text = render(Finding("e-2", item=item, window={"window_start": "2026-12-06T10:00:00Z", "count": 7}))
    assert "latency    1,250 ms from the API to the table" in text
    assert "stream     shardId-000000000001 sequence 4962 (user record 3 of an aggregate)" in text
    assert "origin     replay" in text
    assert "aggregates window 2026-12-06T10:00:00Z (count 7 for order.placed" in text
