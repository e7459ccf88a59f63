"""The mapping emulator's FilterCriteria: the equality patterns it emulates decide which records reach
the function, and a pattern it does not emulate is refused when the mapping is made, naming the
pattern, rather than answered wrongly (or crashing a shard's reader) when the first record arrives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.awslambda.esm import MappingSettings, matches

ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"
TABLE_STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/events/stream/2026-12-04T00:00:00.000"


def mapping(*patterns: Any) -> MappingSettings:
    props = {
        "EventSourceArn": TABLE_STREAM,
        "FilterCriteria": {"Filters": [{"Pattern": json.dumps(p)} for p in patterns]},
    }
    return MappingSettings.from_properties(props, ARN)


def insert(type_: str) -> dict[str, Any]:
    return {"eventName": "INSERT", "dynamodb": {"NewImage": {"type": {"S": type_}}}}


def test_a_record_passes_when_every_field_of_a_pattern_holds_one_of_its_values() -> None:
    [pattern] = mapping({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"type": {"S": ["a", "b"]}}}}).filters
    assert matches(pattern, insert("a"))
    assert matches(pattern, insert("b"))
    assert not matches(pattern, insert("c"))
    assert not matches(pattern, {**insert("a"), "eventName": "MODIFY"})
    assert not matches(pattern, {"eventName": "INSERT"})  # the field the pattern names is missing


@pytest.mark.parametrize(
    "pattern",
    [
        {"eventName": [{"prefix": "IN"}]},
        {"dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 1]}]}}}},
        {"eventName": "INSERT"},
    ],
    ids=["prefix", "numeric", "bare value"],
)
def test_a_pattern_it_does_not_emulate_is_refused_when_the_mapping_is_made(pattern: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="filter pattern"):
        mapping({"eventName": ["INSERT"]}, pattern)


def test_a_pattern_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="a pattern must be a JSON object"):
        mapping(["INSERT"])
