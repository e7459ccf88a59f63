"""The local SQS refuses a bad batch call whole, as AWS did (tests/fixtures/aws-recorded/sqs-api.json):
the error field for field, and nothing of the batch sent, deleted or hidden."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.endpoint import LocalEndpoint
from tests.recorded import differences, load

pytestmark = pytest.mark.integration

RECORDED = load("sqs-api.json")


@pytest.fixture
def sqs(local_aws: LocalEndpoint) -> Any:
    return boto3.client("sqs", endpoint_url=local_aws.url)


def _refused(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as error:
        call()
    response: dict[str, Any] = dict(error.value.response)
    response["ResponseMetadata"] = {"HTTPHeaders": {}, "HTTPStatusCode": response["ResponseMetadata"]["HTTPStatusCode"]}
    response["Error"] = {k: v for k, v in response["Error"].items() if k != "Detail"}  # LocalStack skips Detail
    return response


def _received(sqs: Any, queue_url: str, count: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for _ in range(10):
        messages += sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        )
        if len(messages) >= count:
            break
    return messages


def test_a_send_batch_of_twenty_or_with_a_bad_id_is_refused_and_sends_nothing(sqs: Any, queue_url: str) -> None:
    twenty = [{"Id": f"message-{i}", "MessageBody": f"messageBody-{i}"} for i in range(20)]
    too_many = _refused(lambda: sqs.send_message_batch(QueueUrl=queue_url, Entries=twenty))
    bad_id = _refused(
        lambda: sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": "message:x1", "MessageBody": "m"}])
    )
    recorded = RECORDED["test_too_many_entries_in_batch_request[sqs]"]["recorded"]
    assert differences(recorded["test_too_many_entries_in_batch_request"], too_many) == []
    recorded = RECORDED["test_invalid_batch_id[sqs]"]["recorded"]
    assert differences(recorded["test_invalid_batch_id"], bad_id) == []
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"


@pytest.mark.parametrize("entry_id", ["", "testLongId" * 10, "invalid:id"])
def test_a_delete_batch_with_a_bad_id_is_refused_as_in_aws(sqs: Any, queue_url: str, entry_id: str) -> None:
    refused = _refused(
        lambda: sqs.delete_message_batch(QueueUrl=queue_url, Entries=[{"Id": entry_id, "ReceiptHandle": "testHandle1"}])
    )
    recorded = RECORDED[f"test_delete_message_batch_invalid_msg_id[sqs-{entry_id}]"]["recorded"]
    assert differences(recorded["error_response"], refused) == []


def test_a_delete_batch_of_twenty_deletes_nothing(sqs: Any, queue_url: str) -> None:
    # GIVEN twenty messages received
    for start in (0, 10):
        entries = [{"Id": f"message-{i}", "MessageBody": f"messageBody-{i}"} for i in range(start, start + 10)]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    received = _received(sqs, queue_url, 20)
    assert len(received) == 20
    handles = [{"Id": f"message-{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
    # WHEN all twenty are deleted, or their visibility changed, in one call
    deleted = _refused(lambda: sqs.delete_message_batch(QueueUrl=queue_url, Entries=handles))
    changed = _refused(
        lambda: sqs.change_message_visibility_batch(
            QueueUrl=queue_url, Entries=[h | {"VisibilityTimeout": 0} for h in handles]
        )
    )
    # THEN both calls are refused as AWS refuses them, and every message is still there, in flight
    recorded = RECORDED["test_delete_message_batch_with_too_large_batch[sqs]"]["recorded"]
    assert differences(recorded["error_response"], deleted) == []
    recorded = RECORDED["test_change_message_visibility_batch_with_too_large_batch[sqs]"]["recorded"]
    assert differences(recorded["error_response"], changed) == []
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "20"
    # and the same deletes in two batches of ten are taken
    for start in (0, 10):
        answer = sqs.delete_message_batch(QueueUrl=queue_url, Entries=handles[start : start + 10])
        assert len(answer["Successful"]) == 10
