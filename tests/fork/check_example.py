"""Run with the fork guide's domain.py in place (PYTHONPATH puts that copy of the layer first).

Checks what docs/fork-guide.md promises of the example: the ingest API refuses a payload that does
not fit, naming each field and taking nothing; the consumer stores a fitting event through the
new sink and quarantines one that does not fit, with the reason. Prints one JSON line of findings
for tests/unit/test_fork_guide.py to assert on.
"""

from __future__ import annotations

import base64
import json
import os
import sys

import boto3
from moto import mock_aws


def main() -> int:
    import weir.domain
    from tests.factories import envelope, kinesis_event
    from tests.fakes import FakeLambdaContext
    from tests.stack import create_consumer_resources
    from weir.ingest.request import RequestRejected, parse_events

    order = {"order_id": "o-1", "amount_cents": 1250, "currency": "EUR"}
    findings: dict[str, object] = {"domain_file": weir.domain.__file__}

    good = envelope(event_id="good-1", payload=order)
    bad = envelope(event_id="bad-1", payload={"order_id": "o-2", "amount_cents": -5, "colour": "red"})
    parse_events(json.dumps({"events": [good]}).encode(), 10)
    try:
        parse_events(json.dumps({"events": [good, bad]}).encode(), 10)
        findings["ingest_rejected"] = None
    except RequestRejected as rejected:
        findings["ingest_rejected"] = {"status": rejected.status, "fields": sorted(e.field for e in rejected.errors)}

    # Step 3 and the files a fork does not edit: the sample events of the tests and of the load test
    # come from example_payload, and the API document's payload schema from Payload.
    from load.events import make_events
    from tools.openapi import payload_schema

    parse_events(json.dumps({"events": [envelope(), *make_events(3)]}).encode(), 10)
    findings["samples_fit"] = True
    findings["openapi_payload_fields"] = sorted(json.loads(payload_schema())["properties"])

    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        sqs = boto3.client("sqs")
        environment = create_consumer_resources(dynamodb, sqs, "fork-events", "fork-idempotency", "fork-quarantine")
        os.environ.update(environment)
        quarantine = environment["QUARANTINE_QUEUE_URL"]

        import functions.process.app as process_app

        batch = kinesis_event([(json.dumps(good).encode(), "k"), (json.dumps(bad).encode(), "k")])
        response = process_app.lambda_handler(batch, FakeLambdaContext(timeout_seconds=60))
        again = process_app.lambda_handler(batch, FakeLambdaContext(timeout_seconds=60))
        findings["batch_item_failures"] = [response["batchItemFailures"], again["batchItemFailures"]]
        findings["stored"] = dynamodb.scan(TableName="fork-events")["Items"]
        messages = sqs.receive_message(QueueUrl=quarantine, MaxNumberOfMessages=10).get("Messages", [])
        findings["quarantined"] = [json.loads(m["Body"]) for m in messages]
        for body in findings["quarantined"]:  # type: ignore[attr-defined]
            body["record"]["data"] = json.loads(base64.b64decode(body["record"]["data"]))
    print(json.dumps(findings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
