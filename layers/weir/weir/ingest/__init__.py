"""The ingest API's domain: validate a request, write its events, and never lose one answered 202.

``POST /events`` takes one envelope or ``{"events": [...]}``.

* 400 names every bad field; nothing of that request is written.
* 413 when the body, the number of events or one event is too large; nothing is written.
* Events the stream does not take before the deadline are spilled to the overflow queue and
  count as accepted (storage-first).
* Only events neither the stream nor the queue took make a 503, with ``Retry-After`` and exactly
  those events listed under ``not_taken``.

One job per module: ``request`` (a request's body and events, validated, or why not), ``overflow``
(the overflow queue the events the stream does not take are spilled to), ``service`` (one request:
write, spill, answer) and ``wiring`` (the service from its configuration). The producer itself is
``weir.producer``: the redrive writes to the stream through it too.
"""
