"""KeyOrderedBatchProcessor keeps Powertools' contract for Kinesis batches.

Each behaviour Powertools' own Kinesis batch tests check (tests/functional/batch in
aws-powertools/powertools-lambda-python, for the pinned 3.x: success only, failures reported in the
batch's order by sequence number, the ``batch_processor`` decorator, parser models with and without
a validation error, the whole batch failed, ``raise_on_entire_batch_failure=False``,
``process_partial_response`` and its input checks) holds here with records of different partition
keys. With records of one key, Weir deliberately differs in one way, and each test below that meets
it says so: after a key's first failure its later records are not tried and not reported (Lambda
redelivers them anyway, from the lowest sequence number reported), so the order of a key's events
holds. docs/consumer.md, "Powertools' contract".
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import batch_processor, process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError, UnexpectedBatchTypeError
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.parser.models import KinesisDataStreamRecord, KinesisDataStreamRecordPayload
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.warnings import PowertoolsDeprecationWarning
from pydantic import BaseModel

from weir.consumer.batch import SKIPPED, KeyOrderedBatchProcessor


def kinesis_record(body: str, key: str, sequence: str | None = None) -> dict[str, Any]:
    """A Kinesis record as Lambda delivers it. Sequence numbers are random, as in Powertools' tests:
    the batch's order, not the numbers' order, is what failures are reported in."""
    sequence = sequence or "".join(random.choice("0123456789") for _ in range(52))
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": key,
            "sequenceNumber": sequence,
            "data": base64.b64encode(body.encode()).decode(),
            "approximateArrivalTimestamp": 1795437600.25,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000003:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/weir-test",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/weir-test",
    }


def handler(record: KinesisStreamRecord) -> str:
    body = base64.b64decode(record.kinesis.data).decode()
    if "fail" in body:
        raise ValueError(f"cannot handle {body}")
    return body


class Order(BaseModel):
    item: dict[str, Any]


class OrderPayload(KinesisDataStreamRecordPayload):
    data: Json[Order]  # the parser's documented way to type a record's data


class OrderRecord(KinesisDataStreamRecord):
    kinesis: OrderPayload


def order_handler(record: OrderRecord) -> dict[str, Any]:
    if "fail" in record.kinesis.data.item["type"]:
        raise ValueError("failed order")
    return record.kinesis.data.item


def order(kind: str) -> str:
    return json.dumps({"item": {"type": kind}})


def sequences(records: list[dict[str, Any]], *indexes: int) -> list[dict[str, str]]:
    return [{"itemIdentifier": records[i]["kinesis"]["sequenceNumber"]} for i in indexes]


@pytest.fixture(params=[1, 4], ids=["one-key-thread", "four-key-threads"])
def processor(request: pytest.FixtureRequest) -> Callable[..., KeyOrderedBatchProcessor]:
    def make(**kwargs: Any) -> KeyOrderedBatchProcessor:
        return KeyOrderedBatchProcessor(request.param, **kwargs)

    return make


def test_a_batch_of_successes_reports_nothing(processor: Callable[..., KeyOrderedBatchProcessor]) -> None:
    # GIVEN two records that succeed
    records = [kinesis_record("success", "k"), kinesis_record("success", "k")]
    batch = processor()
    # WHEN processed
    with batch(records, handler) as processing:
        processed = processing.process()
    # THEN each is a success, with the handler's result, in order; no failure reported
    assert processed == [("success", "success", records[0]), ("success", "success", records[1])]
    assert batch.response() == {"batchItemFailures": []}


def test_failures_of_different_keys_are_each_reported_in_the_batch_s_order(
    processor: Callable[..., KeyOrderedBatchProcessor],
) -> None:
    # GIVEN fail, success, fail on three partition keys
    records = [kinesis_record("failure", "a"), kinesis_record("success", "b"), kinesis_record("failure", "c")]
    batch = processor()
    # WHEN processed
    with batch(records, handler) as processing:
        processed = processing.process()
    # THEN the success is one and both failures are reported, first then third (Powertools' answer)
    assert processed[1] == ("success", "success", records[1])
    assert len(batch.fail_messages) == 2
    assert batch.response() == {"batchItemFailures": sequences(records, 0, 2)}


def test_within_one_key_the_records_after_a_failure_are_not_tried(
    processor: Callable[..., KeyOrderedBatchProcessor],
) -> None:
    # GIVEN fail, success, fail on one partition key (Powertools' own test batch)
    records = [kinesis_record("failure", "k"), kinesis_record("success", "k"), kinesis_record("failure", "k")]
    handled: list[str] = []

    def watching(record: KinesisStreamRecord) -> str:  # Powertools passes it as record=
        handled.append(record.kinesis.sequence_number)
        return handler(record)

    batch = processor()
    with batch(records, watching) as processing:
        processed = processing.process()
    # THEN deliberately unlike Powertools: the second and third are not tried (the key's order
    # holds), only the first is reported, and the invocation does not fail. Lambda checkpoints before
    # the first and delivers all three again.
    assert handled == [records[0]["kinesis"]["sequenceNumber"]]
    assert [status for status, _, _ in processed] == ["fail", SKIPPED, SKIPPED]
    assert batch.response() == {"batchItemFailures": sequences(records, 0)}


def test_the_decorator_reports_the_failures() -> None:
    records = [kinesis_record("failure", "a"), kinesis_record("success", "b"), kinesis_record("failure", "c")]
    batch = KeyOrderedBatchProcessor(4)

    @batch_processor(record_handler=handler, processor=batch)  # type: ignore[untyped-decorator]
    def lambda_handler(event: dict[str, Any], context: Any) -> Any:
        return batch.response()

    with pytest.warns(PowertoolsDeprecationWarning, match="batch_processor"):  # deprecated in 3.x, still supported
        assert lambda_handler({"Records": records}, {}) == {"batchItemFailures": sequences(records, 0, 2)}


def test_a_parser_model_gives_the_handler_typed_records(processor: Callable[..., KeyOrderedBatchProcessor]) -> None:
    records = [kinesis_record(order("success"), "k"), kinesis_record(order("success"), "k")]
    batch = processor(model=OrderRecord)
    with batch(records, order_handler) as processing:
        processed = processing.process()
    assert processed == [("success", {"type": "success"}, records[0]), ("success", {"type": "success"}, records[1])]
    assert batch.response() == {"batchItemFailures": []}


def test_a_parser_model_s_failures_are_reported_by_sequence_number(
    processor: Callable[..., KeyOrderedBatchProcessor],
) -> None:
    # a failing record given as the model: reported through the model's own field names
    records = [
        kinesis_record(order("fail"), "a"),
        kinesis_record(order("success"), "b"),
        kinesis_record(order("fail"), "c"),
    ]
    batch = processor(model=OrderRecord)
    with batch(records, order_handler) as processing:
        processing.process()
    assert len(batch.fail_messages) == 2
    assert batch.response() == {"batchItemFailures": sequences(records, 0, 2)}


@pytest.mark.parametrize("keys", [("a", "b", "c"), ("k", "k", "k")], ids=["three-keys", "one-key"])
def test_a_record_that_does_not_fit_the_model_is_the_one_reported(
    processor: Callable[..., KeyOrderedBatchProcessor], keys: tuple[str, str, str]
) -> None:
    records = [
        kinesis_record(order("success"), keys[0]),
        kinesis_record('{"poison": "pill"}', keys[1]),
        kinesis_record(order("ok"), keys[2]),
    ]
    batch = processor(model=OrderRecord)
    with batch(records, order_handler) as processing:
        processed = processing.process()
    assert len(batch.fail_messages) == 1
    assert batch.response() == {"batchItemFailures": sequences(records, 1)}
    # with one key the third waits for the second's redelivery (deliberate; see the module's docstring)
    assert processed[2][0] == ("success" if keys[2] != keys[1] else SKIPPED)


def test_a_batch_whose_every_record_failed_raises_cold_and_warm() -> None:
    records = [kinesis_record("fail", "a"), kinesis_record("fail", "b")]
    batch = KeyOrderedBatchProcessor(4)

    @batch_processor(record_handler=handler, processor=batch)  # type: ignore[untyped-decorator]
    def lambda_handler(event: dict[str, Any], context: Any) -> Any:
        return batch.response()

    for _ in ("cold", "warm"):
        with (
            pytest.warns(PowertoolsDeprecationWarning, match="batch_processor"),
            pytest.raises(BatchProcessingError, match=r"All records failed processing\. 2 individual errors"),
        ):
            lambda_handler({"Records": records}, {})


def test_records_never_tried_do_not_make_a_batch_all_failed() -> None:
    # GIVEN a one-key batch whose first record fails: the rest are not tried
    records = [kinesis_record("fail", "k"), kinesis_record("fail", "k"), kinesis_record("success", "k")]
    # WHEN processed the way the consumer does
    response = process_partial_response({"Records": records}, handler, KeyOrderedBatchProcessor(4))
    # THEN partial results, not an invocation error (Powertools raises only when every record failed)
    assert response == {"batchItemFailures": sequences(records, 0)}


def test_without_the_all_failed_rule_every_failure_is_answered() -> None:
    records = [kinesis_record("fail", "a"), kinesis_record("fail", "b")]
    batch = KeyOrderedBatchProcessor(4, raise_on_entire_batch_failure=False)
    response = process_partial_response({"Records": records}, handler, batch)
    assert response == {"batchItemFailures": sequences(records, 0, 1)}


def test_process_partial_response_and_its_input_checks() -> None:
    assert process_partial_response(
        {"Records": [kinesis_record("success", "a"), kinesis_record("success", "b")]},
        handler,
        KeyOrderedBatchProcessor(2),
    ) == {"batchItemFailures": []}
    not_events: tuple[Any, ...] = (123456789, [], False)
    for not_an_event in not_events:
        with pytest.raises(ValueError):  # noqa: PT011 - Powertools' own check says no more than this
            process_partial_response(not_an_event, handler, KeyOrderedBatchProcessor(2))
    for no_records in ({}, {"Records": None}, {"Records": "not a list"}):
        with pytest.raises(UnexpectedBatchTypeError):
            process_partial_response(no_records, handler, KeyOrderedBatchProcessor(2))


def test_failures_finished_out_of_order_by_the_threads_are_reported_in_the_batch_s_order() -> None:
    # GIVEN many keys whose failures the threads finish in any order
    records = [kinesis_record("fail" if i % 3 == 0 else "success", f"k{i}") for i in range(60)]
    response = process_partial_response({"Records": records}, handler, KeyOrderedBatchProcessor(16))
    # THEN the report follows the batch, as one thread would have made it
    assert response == {"batchItemFailures": sequences(records, *range(0, 60, 3))}
