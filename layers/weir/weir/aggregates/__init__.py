"""The second consumer: per-window counts of the stored events by type, each stored event once.

It reads the events table's change stream (DynamoDB Streams), not the Kinesis stream: a stored event
is one ``INSERT`` record there, and a duplicate none at all, because the first consumer's conditional
put of a copy changes nothing ("DynamoDB Streams ... each stream record appears exactly once",
DynamoDB developer guide). So counting the ``INSERT`` records counts each stored event once, with no
write of its own per event (docs/decisions/0010-one-write-per-event.md).

The event source mapping's tumbling windows (``TumblingWindowInSeconds``) carry the counts between
invocations as the window's ``state``; at the window's end (``isFinalInvokeForWindow``), or when the
state grew past 1 MB (``isWindowTerminatedEarly``), the counts are committed to the aggregates table.
docs/aws-facts.md ("Tumbling windows") holds what AWS documents about them. Exactly once, whatever
the mapping delivers twice:

* **A batch delivered again** (a retry, a bisection, an answer lost) is counted in the state from
  before it: a failed invocation's state is dropped, so the window restarts from the last state that
  succeeded.
* **A commit per window segment.** A window's counts are added to each type's item with a condition
  that this segment (the shard and the first record the state counted) has not been added before:
  a final invocation that is retried adds nothing twice.

A batch that runs out of retries goes to the on-failure destination; the redrive counts it into its
window as a segment of its own (weir.redrive.recount).

One job per module: ``window`` (a window, its state, a change record as the window counts it),
``service`` (one invocation: count, commit), ``store`` (the aggregates table) and ``wiring`` (the
service from its configuration).
"""
