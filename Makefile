# Every target sets itself up: a fresh clone needs only python3 (>= 3.11), node and npm.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp
DEPS_LAYER := layers/deps/python
DEPS_STAMP := layers/deps/.built-stamp
CDK := npx --no-install cdk
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# Node 20 is past jsii's support date; this is the variable jsii honours for that banner.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: help setup test unit lint typecheck schemas schema-check synth layers deploy demo clean bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

setup: $(STAMP) $(NODE_STAMP) ## create .venv and node_modules with everything the project uses

$(STAMP): pyproject.toml layers/common/pyproject.toml edge_agent/pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python >= 3.11 is needed"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e layers/common -e edge_agent -e ".[dev]"
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

layers: $(DEPS_STAMP) ## build the third-party Lambda layer for Python 3.12 on arm64 (pip, no Docker)

$(DEPS_STAMP): layers/deps/requirements.txt | $(STAMP)
	rm -rf $(DEPS_LAYER)
	$(PY) -m pip install --quiet --no-compile --target $(DEPS_LAYER) \
		--platform manylinux2014_aarch64 --implementation cp --python-version 3.12 \
		--only-binary=:all: -r layers/deps/requirements.txt
	touch $@

schemas: $(STAMP) ## write the wire contract's JSON Schemas to docs/schemas/
	$(VENV)/bin/walkout schema export --out docs/schemas

schema-check: $(STAMP) ## fail when docs/schemas or docs/openapi.json drift from the code
	$(VENV)/bin/walkout schema check --dir docs/schemas
	$(VENV)/bin/walkout openapi check

typecheck: $(STAMP)
	$(VENV)/bin/mypy layers/common/python/walkout walkout_cli infrastructure edge_agent/walkout_edge app.py

synth: $(STAMP) $(NODE_STAMP) $(DEPS_STAMP) ## synthesize the CloudFormation template to cdk.out/ (cdk-nag runs here)
	$(CDK) synth --quiet

lint: $(STAMP) synth ## ruff, mypy, schema drift, cfn-lint on the synthesized template, asl-validator
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MAKE) --no-print-directory typecheck schema-check
	# W3005: CDK adds an explicit DependsOn from a function to its role's policy, which also
	# appears in a GetAtt; the redundancy is CDK's (harmless), not something to hand-edit.
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json
	for f in infrastructure/statemachines/*.asl.json; do npx --no-install asl-validator --json-path "$$f" || exit 1; done

unit: $(STAMP) $(DEPS_STAMP) ## the tests only (no lint)
	$(VENV)/bin/pytest -q

test: lint unit ## lint, type check and every default test (the README's test command)

deploy: $(STAMP) $(NODE_STAMP) $(DEPS_STAMP) ## cdk deploy with your AWS credentials (see README)
	$(CDK) deploy --require-approval broadening

clean: ## remove build output (keeps .venv and node_modules)
	rm -rf cdk.out layers/deps/python $(DEPS_STAMP) .pytest_cache .mypy_cache .ruff_cache

demo: $(STAMP) ## a simulated store day through the whole pipeline on this machine (moto, no AWS account)
	$(VENV)/bin/walkout demo

# Recordings are made in BENCH_DIR unless given (BUSY_RECORDING=/tmp/sim-busy ...).
BENCH_DIR ?= $(or $(TMPDIR),/tmp)/walkout-bench
BUSY_RECORDING ?=
STADIUM_RECORDING ?=
# Long enough for a complete run on a loaded laptop; the wall time is in the results.
BENCH_TIMEOUT_S ?= 3600

bench: $(STAMP) $(DEPS_STAMP) ## busy and stadium-rush through the local pipeline, scored; writes docs/benchmarks.md
	mkdir -p $(BENCH_DIR)
	$(VENV)/bin/walkout bench --scenario busy --workdir $(BENCH_DIR)/busy --timeout-s $(BENCH_TIMEOUT_S) \
		--json $(BENCH_DIR)/busy.json $(if $(BUSY_RECORDING),--recording $(BUSY_RECORDING))
	$(VENV)/bin/walkout bench --scenario stadium-rush --workdir $(BENCH_DIR)/stadium-rush --timeout-s $(BENCH_TIMEOUT_S) \
		--json $(BENCH_DIR)/stadium-rush.json $(if $(STADIUM_RECORDING),--recording $(STADIUM_RECORDING))
	$(PY) -m benchmarks.bench.doc --out docs/benchmarks.md $(BENCH_DIR)/busy.json $(BENCH_DIR)/stadium-rush.json
