"""DynamoDB as the local endpoint serves it: dynalite, and what the gateway adds to it."""
