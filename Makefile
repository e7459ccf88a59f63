# Weir's front door. `make help` lists every target.
# Every target sets up what it needs (.venv, pinned packages, the npm package for local Kinesis)
# and is safe to run twice.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# checkov pins a boto3 that aws-sam-cli cannot share: it gets a virtual environment of its own.
CHECKOV_VENV := .venv-checkov
UV_VERSION := 0.13.8
NODE_MODULES := local/node_modules/.package-lock.json
TEMPLATE := template.yaml
# Offline template checks need a region and (fake) credentials, never real ones.
CHECK_ENV := AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
	SAM_CLI_TELEMETRY=0 AWS_EC2_METADATA_DISABLED=true
PYTEST_ARGS ?=
PARAMS ?=
SAMCONFIG_ENV ?= default

.PHONY: help
help: ## List every target with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Weir needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements/dev.lock $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements/dev.lock
	touch $@

# The layer's `weir` package on the virtual environment's path, as Lambda mounts the layer at
# /opt/python: the local runtime and the load tools import it like the functions do.
$(VENV)/.layer-path: $(VENV)/.installed
	$(BIN)/python -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_path("purelib"), "weir-layer.pth").write_text(str(pathlib.Path("layers/weir").resolve()) + "\n")'
	touch $@

$(NODE_MODULES): local/package.json local/package-lock.json
	npm ci --prefix local --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: setup
setup: $(VENV)/.installed $(VENV)/.layer-path $(NODE_MODULES) ## Create .venv with the pinned packages and install kinesalite
	@echo "ready: $(BIN)/python, local/node_modules"

.PHONY: lock
lock: $(BIN)/python ## Re-resolve requirements/*.in into the pinned requirements/*.lock
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip compile --quiet requirements/dev.in -o requirements/dev.lock --python-version 3.11 --no-header
	$(BIN)/uv pip compile --quiet requirements/checkov.in -o requirements/checkov.lock --python-version 3.11 --no-header

.PHONY: lint
lint: setup ## ruff (lint and format check), mypy (strict on layers/weir) and actionlint on the GitHub workflows
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/weir functions local load tools tests
	node tools/actionlint.cjs .github/workflows/*.yml

.PHONY: fmt
fmt: setup ## Format the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: check-template
check-template: setup ## cfn-lint on the source and the translated template (and ci/), and sam validate --lint
	@mkdir -p build
	$(CHECK_ENV) $(BIN)/python -m tools.template $(TEMPLATE) > build/translated.json
	$(CHECK_ENV) $(BIN)/cfn-lint $(TEMPLATE)
	$(CHECK_ENV) $(BIN)/cfn-lint build/translated.json
	$(CHECK_ENV) $(BIN)/sam validate --lint --template-file $(TEMPLATE)
	$(CHECK_ENV) $(BIN)/cfn-lint ci/github-deploy-role.yaml

$(CHECKOV_VENV)/.installed: requirements/checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(CHECKOV_VENV)/bin/uv pip sync --quiet --python $(CHECKOV_VENV)/bin/python requirements/checkov.lock
	touch $@

.PHONY: checkov
checkov: check-template $(CHECKOV_VENV)/.installed ## checkov, offline, on the template and its translation; every skip sits on its resource with a reason
	rm -f build/checkov.json
	$(CHECKOV_VENV)/bin/checkov --skip-download --quiet --compact --framework cloudformation \
		-f $(TEMPLATE) -f build/translated.json -o json > build/checkov.json || true
	$(BIN)/python -m tools.checkov_gate build/checkov.json

.PHONY: pytest
pytest: setup ## Run the test suite only (PYTEST_ARGS="-k producer" to narrow it); two workers, the e2e tests one after another on one of them
	$(CHECK_ENV) $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

.PHONY: check
check: setup ## The fast loop while developing (40 s on 2 cores): ruff, then the unit and template tests on every core (no sam build, no local endpoint)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -x -n auto tests/unit tests/template -m "not build and not integration and not e2e and not fork" $(PYTEST_ARGS)

.PHONY: test
test: lint check-template checkov pytest ## Every check: lint, types, template checks, checkov and all tests

.PHONY: build
build: setup ## sam build for python3.13/arm64 (finds a python3.13 through pyenv when it is not on PATH)
	PATH="$$($(BIN)/python -m tools.python313 --bin-dir):$$PATH" $(CHECK_ENV) $(BIN)/sam build --template-file $(TEMPLATE)

.PHONY: run
run: setup ## Run the pipeline end to end on this machine and print the ledger (PARAMS="Key=Value ...")
	$(BIN)/python -m local.run --params "$(PARAMS)"

.PHONY: up
up: setup ## Run the whole pipeline locally until Ctrl-C: AWS endpoint :4566, HTTP API :3000 (PARAMS=, FAULTS=file)
	$(BIN)/python -m local.up --params "$(PARAMS)" $(if $(FAULTS),--faults "$(FAULTS)")

.PHONY: redrive
redrive: setup ## Redrive failed records: on the running `make up`, or on a deployed stack with STACK=name
	$(BIN)/python -m tools.redrive $(if $(STACK),--stack "$(STACK)") --event '$(or $(EVENT),{})'

.PHONY: replay
replay: setup ## A range of the stream through the pipeline again: FROM=<ISO 8601> TO=<ISO 8601> [SOURCE=stream|archive] [DRY_RUN=1] [TYPE=a,b] [PARTITION_KEY=k] [EVERY_EVENT=1] [RECOUNT=1]; on make up, or STACK=name
	@test -n "$(FROM)" -a -n "$(TO)" || (echo "make replay needs FROM=<ISO 8601> TO=<ISO 8601>" >&2; exit 2)
	$(BIN)/python -m tools.replay --from "$(FROM)" --to "$(TO)" $(if $(SOURCE),--source "$(SOURCE)") $(if $(DRY_RUN),--dry-run) $(if $(TYPE),--types "$(TYPE)") $(if $(PARTITION_KEY),--partition-key "$(PARTITION_KEY)") $(if $(EVERY_EVENT),--every-event) $(if $(RECOUNT),--recount) $(if $(STACK),--stack "$(STACK)")

.PHONY: trace
trace: setup ## Where one event is: EVENT=<event_id>; on the running `make up`, or on a deployed stack with STACK=name
	@test -n "$(EVENT)" || (echo "make trace needs EVENT=<event_id>" >&2; exit 2)
	$(BIN)/python -m tools.trace --event "$(EVENT)" $(if $(STACK),--stack "$(STACK)")

.PHONY: breaker
breaker: setup ## The circuit breaker's state; FORCE=open|closed|release [REASON=...]; on make up, or STACK=name
	$(BIN)/python -m tools.breaker $(if $(STACK),--stack "$(STACK)") $(if $(FORCE),--force "$(FORCE)") $(if $(REASON),--reason "$(REASON)")

.PHONY: chaos
chaos: setup ## An AWS FIS experiment of the stack: EXPERIMENT=kinesis-throttle|expired-iterator, or STOP=id; on make up, or STACK=name (docs/chaos.md)
	$(BIN)/python -m tools.chaos $(if $(STACK),--stack "$(STACK)") $(if $(EXPERIMENT),--experiment "$(EXPERIMENT)") $(if $(STOP),--stop "$(STOP)")

.PHONY: load
load: setup ## Bounded headless Locust run (30 s of load, about 2.5 minutes in all) on the local runtime, reconciled; reports/ (WORKERS=N)
	$(BIN)/python -m load.run_load $(if $(WORKERS),--workers $(WORKERS)) $(ARGS)

.PHONY: load-aws
load-aws: setup ## The same load against a deployed stack: make load-aws STACK=weir-dev [WORKERS=4] (docs/load-testing.md)
	@test -n "$(STACK)" || (echo "make load-aws needs STACK=<deployed stack name>" >&2; exit 2)
	WEIR_STACK="$(STACK)" WEIR_SIGV4=1 $(BIN)/python -m load.run_load $(if $(WORKERS),--workers $(WORKERS)) $(ARGS)

.PHONY: openapi
openapi: setup ## Write the payload schema of docs/openapi.yaml from weir.domain.Payload (a test checks it is current)
	$(BIN)/python -m tools.openapi

.PHONY: plan
plan: setup ## Capacity plan: shards, consumer concurrency, cost (ARGS="--events-per-second 5000 --record-bytes 1200")
	$(BIN)/python -m load.planner $(or $(ARGS),--events-per-second 5000 --record-bytes 1200)

.PHONY: bench
bench: setup ## Benchmarks (ratios against a same-run baseline) into build/bench/; see docs/performance.md
	$(BIN)/python -m load.bench_producer --json build/bench/b1.json
	$(BIN)/python -m load.bench_throughput --json build/bench/b2.json
	$(BIN)/python -m load.bench_consumer --latency-ms 5 --json build/bench/b3.json
	$(BIN)/python -m load.bench_e2e --json build/bench/b4.json
	$(BIN)/python -m load.bench_calls --json build/bench/b5.json
	$(BIN)/python -m load.bench_reconcile --json build/bench/b6.json
	$(BIN)/python -m load.bench_generator --json build/bench/b7.json
	$(BIN)/python -m load.bench_units --json build/bench/b8.json
	$(BIN)/python -m load.bench_aggregation --json build/bench/b9.json

.PHONY: preflight
preflight: setup ## What CloudFormation would refuse, or what would deploy and then fail quietly (SAMCONFIG_ENV=, or PARAMS=)
	$(CHECK_ENV) $(BIN)/python -m tools.preflight $(if $(PARAMS),--params "$(PARAMS)",--config-env $(SAMCONFIG_ENV))

.PHONY: deploy-settings
deploy-settings:
	@test -z "$(PARAMS)" || (echo "make deploy deploys samconfig.toml's [$(SAMCONFIG_ENV)] parameters and would ignore PARAMS: put them in its parameter_overrides" >&2; exit 2)

.PHONY: deploy
deploy: deploy-settings preflight build ## sam deploy with samconfig.toml's environment SAMCONFIG_ENV (default, prod, ci), after preflight [STACK= ARTIFACT_BUCKET= CFN_ROLE_ARN=]
	SAM_CLI_TELEMETRY=0 $(BIN)/sam deploy --config-env $(SAMCONFIG_ENV) $(if $(STACK),--stack-name "$(STACK)") \
		$(if $(ARTIFACT_BUCKET),--s3-bucket "$(ARTIFACT_BUCKET)") $(if $(CFN_ROLE_ARN),--role-arn "$(CFN_ROLE_ARN)")

.PHONY: smoke
smoke: setup ## Is it working? A few signed POST /events, each found in the events table: on make up, or STACK=name
	$(BIN)/python -m tools.smoke $(if $(STACK),--stack "$(STACK)")

.PHONY: destroy
destroy: setup ## Delete a deployed stack: make destroy STACK=name (CloudFormation deletes with the role it deployed with)
	@test -n "$(STACK)" || (echo "make destroy needs STACK=<deployed stack name>" >&2; exit 2)
	SAM_CLI_TELEMETRY=0 $(BIN)/sam delete --stack-name "$(STACK)" --no-prompts

.PHONY: clean
clean: ## Remove build output (keeps .venv and local/node_modules)
	rm -rf .aws-sam build .pytest_cache .mypy_cache .ruff_cache

.PHONY: distclean
distclean: clean ## Remove build output, .venv and local/node_modules
	rm -rf $(VENV) $(CHECKOV_VENV) local/node_modules
