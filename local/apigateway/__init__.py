"""The stack's HTTP API, locally: 127.0.0.1:3000 in front of the ingest function."""
