"""``make chaos [EXPERIMENT=name | STOP=id] [STACK=name]``: start or stop one of the stack's AWS FIS
experiments, on a deployed stack (``aws fis start-experiment``) or on the running ``make up``, where
the same experiment template runs as local faults (local/fis/experiments.py). Both need the stack deployed with
``ChaosExperiments=true``. Without EXPERIMENT or STOP it lists the experiments. docs/chaos.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
import uuid
from typing import Any

from tools.stack import STATE_PATH, load_stack

# make chaos EXPERIMENT=<key> -> the template's logical id; its output is the logical id + "Id".
EXPERIMENTS = {
    "kinesis-throttle": "ChaosKinesisThrottleExperiment",
    "expired-iterator": "ChaosExpiredIteratorExperiment",
}
LOCAL_PREFIX = "local:"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", default=None, help="a deployed stack's name; default: the running make up")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--experiment", choices=sorted(EXPERIMENTS), default=None)
    group.add_argument("--stop", default=None, help="the id that starting the experiment printed")
    args = parser.parse_args(argv)
    try:
        if args.stack is None:
            return _local(args.experiment, args.stop)
        return _aws(args.stack, args.experiment, args.stop)
    except ChaosError as exc:
        print(f"make chaos: {exc}", file=sys.stderr)
        return 2


class ChaosError(RuntimeError):
    """Nothing to run: no stack, no experiments in it, or an unknown id."""


def _print(document: Any) -> None:
    print(json.dumps(document, indent=2))


# --- the running make up -------------------------------------------------------------------


def _local(experiment: str | None, stop: str | None) -> int:
    if not STATE_PATH.exists():
        raise ChaosError("no running make up (build/local-stack.json); start one, or name a stack: STACK=...")
    state = json.loads(STATE_PATH.read_text())
    faults_url = state["endpoint"].rstrip("/") + "/_weir/faults"
    experiments: dict[str, list[dict[str, Any]]] = state["stack"].get("experiments", {})
    if stop is not None:
        if not stop.startswith(LOCAL_PREFIX):
            raise ChaosError(f"{stop!r} is not a local experiment id (they start with {LOCAL_PREFIX})")
        removed = sum(
            _call("DELETE", f"{faults_url}/{fault_id}")["removed"] for fault_id in stop[len(LOCAL_PREFIX) :].split(",")
        )
        _print({"stopped": stop, "faults_removed": removed})
        return 0
    if not experiments:
        raise ChaosError('the running make up has no experiments: start it with PARAMS="ChaosExperiments=true"')
    if experiment is None:
        active = _call("GET", faults_url)["faults"]
        _print({"experiments": {key: experiments[name] for key, name in EXPERIMENTS.items()}, "active_faults": active})
        return 0
    answer = _call("POST", faults_url, experiments[EXPERIMENTS[experiment]])
    ids = answer.get("ids") or [answer["id"]]
    _print(
        {"experiment": experiment, "id": LOCAL_PREFIX + ",".join(ids), "faults": experiments[EXPERIMENTS[experiment]]}
    )
    return 0


def _call(method: str, url: str, body: Any = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})  # noqa: S310 - the local endpoint
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the local endpoint
            return dict(json.loads(response.read() or b"{}"))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # a fault that already ran its duration
            return dict(json.loads(exc.read() or b"{}"))
        raise ChaosError(f"{method} {url}: {exc.code} {exc.read().decode(errors='replace')}") from None


# --- a deployed stack ----------------------------------------------------------------------


def _aws(stack_name: str, experiment: str | None, stop: str | None) -> int:
    stack = load_stack(stack_name)
    fis = stack.client("fis", read_timeout=20)
    if stop is not None:
        answer = fis.stop_experiment(id=stop)["experiment"]
        _print({"stopped": stop, "state": answer["state"]})
        return 0
    templates = {key: stack.outputs.get(f"{name}Id") for key, name in EXPERIMENTS.items()}
    if not any(templates.values()):
        raise ChaosError(f"stack {stack_name} has no experiments: deploy it with ChaosExperiments=true")
    if experiment is None:
        _print({"experiment_templates": templates})
        return 0
    started = fis.start_experiment(experimentTemplateId=templates[experiment], clientToken=str(uuid.uuid4()))
    _print({"experiment": experiment, "id": started["experiment"]["id"], "state": started["experiment"]["state"]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
