"""The second consumer: per-window counts of events by type, exactly once per ``event_id``.

The event source mapping's tumbling windows (``TumblingWindowInSeconds``) carry the counts between
invocations as the window's ``state``; at the window's end (``isFinalInvokeForWindow``), or when the
state grew past 1 MB (``isWindowTerminatedEarly``), the counts are committed to the aggregates table.
docs/aws-facts.md ("Tumbling windows") holds what AWS documents about them.

Exactly once, whatever is delivered twice:

* **A claim per event id.** Before a record is counted, its ``event_id`` is claimed in the claims table
  for that record (``shard:sequence``). The same record delivered again (a retry, a bisection, the
  next attempt after a failure) claims it again and is counted again *in a state that did not count
  it*: a failed invocation's state is dropped, so the window restarts from the last state that
  succeeded. Another record with the same ``event_id`` (posted twice, redriven, read again from a
  child shard) finds the claim taken and is not counted.
* **A commit per window segment.** A window's counts are added to each type's item with a condition
  that this segment (the shard and the first record the state counted) has not been added before:
  a final invocation that is retried adds nothing twice.

A record that is not an envelope is counted as ``(poison)`` and never fails the window.

One job per module: ``window`` (a window, its state, a record as the window counts it),
``service`` (one invocation: count, claim, commit), ``claims`` (the claims table),
``store`` (the aggregates table) and ``wiring`` (the service from its configuration).
"""
