# Monay Wallets: every target installs what it needs into .venv (and node_modules for the cdk CLI).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DEPS_HASH := $(shell cat requirements/*.txt | sha1sum | cut -c1-12)
DEPS_STAMP := $(VENV)/.deps-$(DEPS_HASH)
LOCAL_CDK_OUT := .cache/cdk.out.local
WALLETS_PORT ?= 3001

.PHONY: help install node browser run test lint unit integration infra e2e synth bench deploy clean

help:
	@echo "make run     the whole system on 127.0.0.1:$(WALLETS_PORT) (moto, no Docker, no AWS account)"
	@echo "make test    lint + unit, integration, infra and end-to-end tests"
	@echo "make synth   CloudFormation into cdk.out/ (assets bundled with pip), cfn-lint, cdk-nag, checkov"
	@echo "make bench   benchmarks, printed as ratios"
	@echo "make deploy  cdk deploy to the AWS account in your environment"

$(DEPS_STAMP): requirements/layer.txt requirements/dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	@rm -f $(VENV)/.deps-* && touch $@

install: $(DEPS_STAMP)

# checkov pins its own boto3/pytest, so it lives in a virtualenv of its own beside .venv.
CHECKOV_VENV := .cache/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.deps-$(shell sha1sum requirements/checkov.txt | cut -c1-12)

$(CHECKOV_STAMP): requirements/checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/checkov.txt
	@rm -f $(CHECKOV_VENV)/.deps-* && touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

node: node_modules/.installed

# Headless Chromium for the checkout page's browser tests (Playwright cannot download its own builds here).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

browser: $(CHROMIUM)

# Compiled bytecode kept in one folder outside the sources: a machine with PYTHONDONTWRITEBYTECODE set (this
# one's default) otherwise compiles every module of ours, and pytest rewrites every test module, again in
# each test worker, each local runtime and each of its function workers. Nothing lands in the sources or in
# the staged Lambda assets the runtime runs from.
export PYTHONPYCACHEPREFIX := $(CURDIR)/.cache/pycache
unexport PYTHONDONTWRITEBYTECODE

run: install
	JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 $(PY) -m local.runtime --config local/runtime.toml --port $(WALLETS_PORT)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

unit: install
	$(VENV)/bin/pytest -q tests/unit

integration: install
	$(VENV)/bin/pytest -q tests/integration

infra: install
	$(VENV)/bin/pytest -q tests/infra

e2e: install browser
	$(VENV)/bin/pytest -q tests/e2e

test: lint browser
	$(VENV)/bin/pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=25 tests

# Extra context as the cdk CLI's `-c`, e.g. `make synth CONTEXT=wallets:snapStart=true` (cdk.json is read too).
CONTEXT ?=

synth: install $(CHECKOV_STAMP)
	rm -rf cdk.out
	JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 CDK_OUTDIR=cdk.out $(PY) app.py $(addprefix -c ,$(CONTEXT))
	$(PY) tools/nag_summary.py cdk.out/validation-report.json
	@# The root template and the nested ones beside it (*.nested.template.json), for cfn-lint and checkov.
	$(VENV)/bin/cfn-lint cdk.out/*.template.json
	@# Suppressions are Metadata.checkov.skip on the resources, each with its reason (infra/checkov.py).
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --framework cloudformation -f cdk.out/*.template.json
	@echo "cdk.out/ written; cfn-lint: 0 errors; checkov: 0 failed checks"

bench: install
	$(PY) -m bench

deploy: install node
	JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 npx cdk deploy --require-approval never --app "$(PY) app.py"

clean:
	rm -rf cdk.out .cache .pytest_cache .mypy_cache .ruff_cache test-output
