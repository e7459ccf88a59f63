"""The pipeline's configuration as tests see it: read from template.yaml, never copied."""

from __future__ import annotations

from functools import cache
from typing import Any

from local.resolve import Scope
from local.template import LOCAL_REGION, function_environment, load_template, parameter_values, translate


@cache
def translated(overrides: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    return translate(load_template(), dict(overrides))


def scope(refs: dict[str, Any], **overrides: str) -> Scope:
    template = translated(tuple(sorted(overrides.items())))
    parameters = parameter_values(load_template(), overrides)
    parameters.update({"AWS::Region": LOCAL_REGION, "AWS::Partition": "aws", "AWS::StackName": "weir-test"})
    return Scope(parameters, refs=refs, conditions=template.get("Conditions", {}))


def environment(function: str, refs: dict[str, Any], **overrides: str) -> dict[str, str]:
    """``function``'s environment from template.yaml, with resources named by ``refs``."""
    template = translated(tuple(sorted(overrides.items())))
    return function_environment(template, function, scope(refs, **overrides))


def ingest_environment(stream_name: str, queue_url: str, **overrides: str) -> dict[str, str]:
    return environment("IngestFunction", {"Stream": stream_name, "OverflowQueue": queue_url}, **overrides)
