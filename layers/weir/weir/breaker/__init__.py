"""The circuit breaker between the consumer and its sink, shared by every execution environment.

When the sink fails for reasons that are not the records' (throttling, 5xx, timeouts) the consumer
should stop spending retries and Lambda time: each failed batch is one of the mapping's
``MaximumRetryAttempts``, and the last sends its records to the failure destination. The stream
itself can hold them instead, up to ``MaximumRecordAgeInSeconds``.

States (one item per consumer in the breaker table, so all execution environments agree):

* ``closed``: batches are processed. ``failure_threshold`` transient sink failures in a row open
  it: counted in each execution environment and, shared, across all of them (a count in the table
  that any success resets, and that lapses after ``failure_window_seconds``). The shared count
  matters: a failed batch's retries may each land in a different environment, so no single one
  would see enough failures in a row before the batch ran out of ``MaximumRetryAttempts``.
* ``open``: a batch that arrives is not processed and does not fail at once: the consumer probes the
  sink every ``probe_interval_seconds`` while its invocation has time (:meth:`Breaker.hold`). The
  breaker function disables the mapping while the breaker is open and probes on its schedule.
* ``half_open``: a probe succeeded after the breaker had been open at least ``open_seconds``: batches
  are processed again; the first success closes it, the first transient failure opens it again,
  and each reopening within ``flap_window_seconds`` doubles ``open_seconds`` (up to
  ``max_open_seconds``), so a sink that flaps is not hammered.

An operator may force it ``open`` or ``closed`` (``make breaker``): a forced state is kept until it
is released, whatever the probes and failures say.

One job per module: ``state`` (the shared state and the settings), ``circuit`` (one execution
environment's breaker), ``dynamodb`` (the state as an item of the breaker table), ``probes`` (a
health probe of a DynamoDB table's write path), ``control`` (the breaker function's job) and
``wiring`` (the breaker function's parts, from its configuration).
"""
