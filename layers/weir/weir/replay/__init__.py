"""Replay: a time range of the stream through the pipeline again, exactly once.

A package shaped as weir.redrive is: what one run is asked (``request``), where it reads
(``stream_source``), where it keeps its place (``cursor``), what the events table already holds
(``stored``), the run itself (``service``), and the AWS clients composed in ``wiring``. The same
producer and rate limiter as the redrive put the records back, and a lease keeps two replays apart.
docs/operations.md, "Replay and backfill".
"""
