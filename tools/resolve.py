"""Resolve CloudFormation intrinsic functions in a translated template, for the local runtime.

Supports what Weir's template uses: Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split,
Fn::If with Conditions (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition), Fn::Contains (Rules),
and AWS::NoValue.
A reference to something it does not know is an error naming it, never a silent empty string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class ResolveError(ValueError):
    pass


@dataclass
class Scope:
    """What names resolve to: parameters and pseudo parameters, resources' Ref values and attributes."""

    parameters: Mapping[str, Any]
    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)
    conditions: Mapping[str, Any] = field(default_factory=dict)
    _condition_values: dict[str, bool] = field(default_factory=dict)

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise ResolveError(f"Ref to unknown name {name!r}")

    def get_att(self, resource: str, attribute: str) -> Any:
        try:
            return self.attributes[(resource, attribute)]
        except KeyError:
            raise ResolveError(f"Fn::GetAtt {resource}.{attribute} is not known locally") from None

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self.conditions:
                raise ResolveError(f"unknown condition {name!r}")
            self._condition_values[name] = bool(resolve(self.conditions[name], self))
        return self._condition_values[name]


def resolve(value: Any, scope: Scope) -> Any:
    """``value`` with every intrinsic function replaced by its value."""
    result = _resolve(value, scope)
    return None if result is _NO_VALUE else result


def _resolve(value: Any, scope: Scope) -> Any:
    if isinstance(value, list):
        items = [_resolve(v, scope) for v in value]
        return [v for v in items if v is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        handler = _FUNCTIONS.get(key)
        if handler is not None:
            return handler(arg, scope)
    resolved = {k: _resolve(v, scope) for k, v in value.items()}
    return {k: v for k, v in resolved.items() if v is not _NO_VALUE}


def _ref(arg: Any, scope: Scope) -> Any:
    return scope.ref(str(arg))


def _get_att(arg: Any, scope: Scope) -> Any:
    if isinstance(arg, str):
        arg = arg.split(".", 1)
    resource, attribute = (_resolve(a, scope) for a in arg)
    return scope.get_att(str(resource), str(attribute))


def _sub(arg: Any, scope: Scope) -> Any:
    if isinstance(arg, list):
        text, variables = arg[0], {k: _resolve(v, scope) for k, v in arg[1].items()}
    else:
        text, variables = arg, {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name in variables:
            return str(variables[name])
        if "." in name and not name.startswith("AWS::"):
            resource, attribute = name.split(".", 1)
            return str(scope.get_att(resource, attribute))
        return str(scope.ref(name))

    return _SUB_VARIABLE.sub(replace, str(text)).replace("${!", "${")


def _join(arg: Any, scope: Scope) -> str:
    delimiter, items = arg
    return str(delimiter).join(str(v) for v in _resolve(items, scope))


def _select(arg: Any, scope: Scope) -> Any:
    index, items = arg
    return _resolve(items, scope)[int(_resolve(index, scope))]


def _split(arg: Any, scope: Scope) -> list[str]:
    delimiter, text = arg
    return str(_resolve(text, scope)).split(str(delimiter))


def _if(arg: Any, scope: Scope) -> Any:
    name, when_true, when_false = arg
    return _resolve(when_true if scope.condition(name) else when_false, scope)


def _equals(arg: Any, scope: Scope) -> bool:
    left, right = (_resolve(a, scope) for a in arg)
    return str(left) == str(right)


def _not(arg: Any, scope: Scope) -> bool:
    return not _resolve(arg[0], scope)


def _and(arg: Any, scope: Scope) -> bool:
    return all(_resolve(a, scope) for a in arg)


def _or(arg: Any, scope: Scope) -> bool:
    return any(_resolve(a, scope) for a in arg)


def _contains(arg: Any, scope: Scope) -> bool:
    """Fn::Contains (template Rules): is the value one of the list's strings?"""
    items, value = (_resolve(a, scope) for a in arg)
    return str(value) in {str(item) for item in items}


def _condition(arg: Any, scope: Scope) -> bool:
    return scope.condition(str(arg))


_FUNCTIONS = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::If": _if,
    "Fn::Equals": _equals,
    "Fn::Not": _not,
    "Fn::And": _and,
    "Fn::Or": _or,
    "Fn::Contains": _contains,
    "Condition": _condition,
}
