"""The stream consumer: store each event once, quarantine poison, never block a shard.

For each Kinesis record:

* undecodable data or an invalid envelope is a *permanent* failure: the raw record goes to the
  quarantine queue with its shard, sequence number, arrival time and the reason, and the record
  counts as handled so the shard moves on;
* a valid event is stored through the domain's sink, once per ``event_id``; a transient failure
  (throttling, timeout, 5xx) is raised, so the record is reported in ``batchItemFailures`` and
  Lambda retries from it.

One job per module: ``records`` (a record's envelope, or why it has none; the quarantine message),
``quarantine`` (the quarantine queue), ``sink`` (what a sink promises), ``dynamodb_sink`` (Weir's
own), ``idempotency`` (Powertools idempotency on its table), ``processor`` (one record),
``batch`` (the key-ordered batch processor), ``service`` (one invocation, behind the breaker) and
``wiring`` (the service from its configuration and the domain's parts).
"""
