"""Check a deployment before `sam deploy` sees it: `make preflight SAMCONFIG_ENV=prod`.

Reads the samconfig.toml environment's parameter_overrides (or --params), applies them to
template.yaml's defaults, and reports what CloudFormation would refuse (parameter constraints,
Rules) or what would deploy and then fail quietly (tools.deploy_checks). Exit 1 with one line
per problem; `make deploy` runs it first.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

from tools.deploy_checks import preflight, template_findings
from tools.template import ROOT, load_template, parameter_values, parse_overrides, translate

SAMCONFIG = ROOT / "samconfig.toml"


def samconfig_overrides(path: Path = SAMCONFIG) -> dict[str, dict[str, str]]:
    """Each environment of samconfig.toml with the parameter overrides its deploy command takes."""
    with path.open("rb") as handle:
        config: dict[str, Any] = tomllib.load(handle)
    environments = {}
    for name, commands in config.items():
        if not isinstance(commands, dict):
            continue  # version = 0.1
        text = commands.get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
        if isinstance(text, list):  # samconfig also takes a list of Key=Value strings
            text = " ".join(text)
        environments[name] = parse_overrides(text)
    return environments


def check(overrides: dict[str, str], template_path: Path | None = None) -> list[str]:
    """Every problem of template.yaml deployed with ``overrides``; empty when it can go."""
    source = load_template(template_path) if template_path else load_template()
    try:
        values = parameter_values(source, overrides)
    except ValueError as exc:
        return [str(exc)]
    problems = preflight(source, translate(source), values)
    if problems:
        return problems
    return template_findings(source, translate(source, overrides))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--config-env", help="a samconfig.toml environment (default: every one)")
    group.add_argument("--params", help="Key=Value overrides instead, as sam deploy takes them")
    args = parser.parse_args(argv)
    if args.params is not None:
        targets = {"--params": parse_overrides(args.params)}
    else:
        environments = samconfig_overrides()
        if args.config_env and args.config_env not in environments:
            parser.error(f"samconfig.toml has no environment {args.config_env!r}; it has {sorted(environments)}")
        targets = {args.config_env: environments[args.config_env]} if args.config_env else environments
    failed = False
    for name, overrides in targets.items():
        problems = check(overrides)
        for problem in problems:
            print(f"preflight {name}: {problem}", file=sys.stderr)
        if not problems:
            print(f"preflight {name}: ok ({len(overrides)} overrides)")
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
