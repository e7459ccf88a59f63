"""Redrive: bring records back from every place an operator can see them, and lose none on the way.

Sources: the S3 on-failure destination (the records are in the object), the SQS on-failure
destination (a pointer: the records are read back from the stream), the quarantine and the overflow
queue. Rules:

* an item is deleted (or moved to ``redriven/`` in S3) only after **every** one of its records has
  been re-put; a crash half-way leaves it in place, and running again is safe because the consumer's
  idempotency removes the duplicates;
* an item whose records have expired from the stream, or that cannot be parsed, is moved to the
  unrecoverable queue with the reason, never deleted;
* a record's redrive attempts are counted when, and only when, it is put back on the stream; an
  item whose records were put back ``RedriveMaxAttempts`` times and came back again is parked in the
  unrecoverable queue instead of looping;
* re-puts go through the ``weir`` producer, rate-limited so a redrive never crowds out live traffic;
  a run stops at the first refusal of the limiter or near its deadline and says what it left;
* one run at a time: a lease in the attempts table, since reserved concurrency may not be available.

One job per module: ``request`` (what an invocation asks), ``sources`` (the four places, as items),
``unrecoverable``, ``attempts``, ``limiter``, ``lease``, ``recount`` (the aggregates consumer's failed
batches, counted into their windows), ``service`` (the run and its report)
and ``wiring`` (the service from its configuration).
"""
