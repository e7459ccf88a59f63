"""Read template.yaml and expand it with aws-sam-translator, the translator SAM itself uses.

Everything that needs the pipeline's configuration (the template checks, the tests, the local
deployer) reads it from here, so template.yaml stays its single source.
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
# The region the translator assumes (it only decides ARN partitions and a few defaults).
LOCAL_REGION = "us-east-1"
# moto's default account; kinesalite is told it too (local.endpoint), so every ARN names one account.
LOCAL_ACCOUNT_ID = "123456789012"

_TAGS_WITH_LIST = {"GetAtt"}


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns CloudFormation short forms (!Ref, !Sub, ...) into long forms."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix in _TAGS_WITH_LIST and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return data


def parse_overrides(text: str) -> dict[str, str]:
    """``Key=Value Key2=Value2`` as ``sam deploy --parameter-overrides`` takes it."""
    overrides: dict[str, str] = {}
    for item in shlex.split(text or ""):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"parameter override {item!r} is not Key=Value")
        if key.startswith("ParameterKey"):
            raise ValueError("use Key=Value pairs, not the ParameterKey=...,ParameterValue=... form")
        overrides[key] = value
    return overrides


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Defaults of the template's Parameters with ``overrides`` applied; unknown keys are errors."""
    declared = template.get("Parameters", {})
    unknown = sorted(set(overrides or {}) - set(declared))
    if unknown:
        raise ValueError(f"unknown template parameter(s): {', '.join(unknown)}; known: {', '.join(sorted(declared))}")
    values = {name: spec.get("Default") for name, spec in declared.items() if "Default" in spec}
    values.update(overrides or {})
    missing = sorted(name for name in declared if name not in values)
    if missing:
        raise ValueError(f"template parameter(s) without a default need a value: {', '.join(missing)}")
    return values


# The translator wants code in S3; local paths become URIs in a placeholder bucket, and the S3 key
# keeps the path so that the local deployer finds the code again.
LOCAL_CODE_BUCKET = "weir-local-code"
_CODE_PROPERTIES = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def with_code_in_s3(template: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``template`` whose local CodeUri/ContentUri paths are s3:// placeholders."""
    result = copy.deepcopy(dict(template))
    globals_uri = result.get("Globals", {}).get("Function", {}).get("CodeUri")
    for resource in result.get("Resources", {}).values():
        prop = _CODE_PROPERTIES.get(resource.get("Type", ""))
        if prop is None:
            continue
        properties = resource.setdefault("Properties", {})
        uri = properties.get(prop, globals_uri if prop == "CodeUri" else None)
        if isinstance(uri, str) and not uri.startswith("s3://"):
            properties[prop] = f"s3://{LOCAL_CODE_BUCKET}/{uri.rstrip('/')}"
    return result


class _NoManagedPolicyLookup:
    """The translator asks IAM to resolve managed policy *names*; Weir's template only uses ARNs."""

    def load(self) -> dict[str, str]:
        return {}


# Translations already made in this process, by template and parameter values: the translator takes
# a few hundred milliseconds a time, and the checks and tests ask for the same ones again and again.
_TRANSLATED: dict[str, dict[str, Any]] = {}


def translate(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The template as CloudFormation sees it after the AWS::Serverless transform (a copy: the
    caller may change it)."""
    import json

    key = json.dumps([template, parameter_values(template, overrides)], sort_keys=True, default=str)
    if key not in _TRANSLATED:
        _TRANSLATED[key] = _translate(template, overrides)
    return copy.deepcopy(_TRANSLATED[key])


def _translate(template: Mapping[str, Any], overrides: Mapping[str, str] | None) -> dict[str, Any]:
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    values = parameter_values(template, overrides)
    # The translator's usage metrics are never published here; without this, every translation
    # of a template with Rules ends with a warning about them.
    import logging

    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
    # As sam-cli does: only region and partition; the rest stays for CloudFormation to resolve.
    values.update({"AWS::Region": LOCAL_REGION, "AWS::Partition": "aws"})
    import boto3

    translator = Translator(
        _NoManagedPolicyLookup().load(), Parser(), boto_session=boto3.session.Session(region_name=LOCAL_REGION)
    )
    try:
        result: dict[str, Any] = translator.translate(with_code_in_s3(template), parameter_values=values)
    except InvalidDocumentException as exc:
        causes = "; ".join(str(cause) for cause in exc.causes)
        raise ValueError(f"template does not translate: {causes}") from None
    return result


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Print template.yaml translated by aws-sam-translator")
    parser.add_argument("template", nargs="?", default=str(TEMPLATE_PATH))
    parser.add_argument("--params", default="", help="Key=Value overrides, as sam deploy takes them")
    args = parser.parse_args(argv)
    translated = translate(load_template(Path(args.template)), parse_overrides(args.params))
    print(json.dumps(translated, indent=2, sort_keys=True))
    return 0


def function_environment(translated: Mapping[str, Any], logical_id: str, scope: Any) -> dict[str, str]:
    """The environment variables template.yaml gives a function, resolved in ``scope``
    (a :class:`tools.resolve.Scope`)."""
    from tools.resolve import resolve

    resource = translated["Resources"].get(logical_id)
    if resource is None or resource.get("Type") != "AWS::Lambda::Function":
        raise KeyError(f"{logical_id} is not a function of the template")
    variables = resource["Properties"].get("Environment", {}).get("Variables", {})
    return {name: str(value) for name, value in resolve(variables, scope).items()}


if __name__ == "__main__":  # python -m tools.template [template] [--params "K=V ..."]: the translation
    raise SystemExit(main())
