"""Run with the fork guide's domain.py in place (PYTHONPATH puts that copy of the layer first).

Checks what docs/fork-guide.md promises of the example: the ingest API refuses a payload that does
not fit and a type the stream does not take, naming each field and taking nothing; the consumer hands
each fitting event to the fulfilment queue once however often it is delivered, with its payload
typed, and quarantines one that does not fit once, with the reason. Prints one JSON line of findings
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

    types = weir.domain.EVENT_TYPES
    order = {"order_id": "o-1", "amount_cents": 1250, "currency": "EUR"}
    findings: dict[str, object] = {"domain_file": weir.domain.__file__}

    good = envelope(event_id="good-1", type="order.placed", payload=order)
    cancelled = envelope(event_id="good-2", type="order.cancelled", payload={"order_id": "o-1", "reason": "late"})
    bad = envelope(
        event_id="bad-1", type="order.placed", payload={"order_id": "o-2", "amount_cents": -5, "colour": "red"}
    )
    unknown = envelope(event_id="bad-2", type="order.lost", payload=order)
    parse_events(json.dumps({"events": [good, cancelled]}).encode(), 10, types)
    try:
        parse_events(json.dumps({"events": [good, bad, unknown]}).encode(), 10, types)
        findings["ingest_rejected"] = None
    except RequestRejected as rejected:
        findings["ingest_rejected"] = {"status": rejected.status, "fields": sorted(e.field for e in rejected.errors)}

    # Step 3 and the files a fork does not edit: the sample events of the tests and of the load test
    # come from example_event, and the API document's schemas from EVENT_TYPES.
    from load.events import make_events
    from tools.openapi import payload_schemas

    parse_events(json.dumps({"events": [envelope(), *make_events(6)]}).encode(), 10, types)
    findings["samples_fit"] = True
    findings["openapi_payloads"] = {name: sorted(s["properties"]) for name, s in payload_schemas().items()}

    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        sqs = boto3.client("sqs")
        environment = create_consumer_resources(dynamodb, sqs, "fork-events", "fork-idempotency", "fork-quarantine")
        # the guide's Step 2: the sink's setting (this copy's template.yaml is the repository's own)
        environment["FULFILMENT_QUEUE_URL"] = sqs.create_queue(QueueName="fulfilment")["QueueUrl"]
        os.environ.update(environment)
        quarantine = environment["QUARANTINE_QUEUE_URL"]

        import functions.process.app as process_app

        items = [(json.dumps(e).encode(), "k" + e["event_id"]) for e in (good, bad, unknown, cancelled)]
        batch = kinesis_event(items)
        response = process_app.lambda_handler(batch, FakeLambdaContext(timeout_seconds=60))
        again = process_app.lambda_handler(batch, FakeLambdaContext(timeout_seconds=60))
        findings["batch_item_failures"] = [response["batchItemFailures"], again["batchItemFailures"]]

        def drain(url: str) -> list[dict[str, object]]:
            messages: list[dict[str, object]] = []
            while found := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                messages.extend(json.loads(m["Body"]) for m in found)
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(found)],
                )
            return messages

        findings["fulfilment"] = sorted(drain(environment["FULFILMENT_QUEUE_URL"]), key=lambda m: str(m["event_id"]))
        findings["quarantined"] = sorted(drain(quarantine), key=lambda m: str(m["reason"]))
        for body in findings["quarantined"]:  # type: ignore[attr-defined]
            body["record"]["data"] = json.loads(base64.b64decode(body["record"]["data"]))
    print(json.dumps(findings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
