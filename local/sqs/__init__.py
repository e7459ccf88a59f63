"""SQS as the local endpoint serves it: moto, and what the gateway checks before it."""
