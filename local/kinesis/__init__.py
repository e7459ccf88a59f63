"""Kinesis as the local endpoint serves it: kinesalite, and what the gateway adds to it."""
