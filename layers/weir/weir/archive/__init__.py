"""The stream's archive: every record Firehose reads from the stream, kept in S3 with what the raw
record would lose (its shard, sequence number, partition key and arrival time), so that a replay can
bring back what left the stream's retention. ``record`` is the archived line's format, ``transform``
the Firehose data transformation that writes it, ``reader`` what a replay reads it with."""
