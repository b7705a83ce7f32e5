# Pacer: `make run` starts the whole dev stack, `make test` runs every test.
# Both set themselves up from nothing but python3 (3.11+) and make.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS_DIR := .tools
UV := $(TOOLS_DIR)/bin/uv
VENV := .venv
PYTEST := $(VENV)/bin/pytest
# Use the machine's Python; never download one.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON ?= $(shell $(PYTHON) -c 'import sys; print(sys.executable)')

MEMBERS := libs/common services/core-api services/coach services/llm-sim services/briefing-worker tools/devstack

$(UV):
	$(PYTHON) -m venv $(TOOLS_DIR)
	$(TOOLS_DIR)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml $(foreach m,$(MEMBERS),$(m)/pyproject.toml)
	$(UV) sync --locked --all-packages --group dev
	@touch $@

.PHONY: help install run test test-tools test-common test-core-api test-coach test-llm-sim test-worker test-stack test-browser test-deploy test-containers containers-up containers-down migrate jobs smoke lint fmt bench bench-coach bench-worker bench-storm lock clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

install: $(VENV)/.synced ## create .venv from uv.lock (done by every other target)

run: install ## run the whole stack in the foreground; prints "ready" and the URL
	exec $(VENV)/bin/python -m pacer_devstack run

test-tools: ## non-Python tools the tests run (promtool): installs what is missing, when it can
	@bash tools/ensure-tools.sh

test: install test-tools ## run the whole test suite (starts its own Postgres and Valkey)
	$(PYTEST) -q

test-common: install ## tests of the shared library only
	$(PYTEST) -q tests/common

test-core-api: install ## core-api contract tests only
	$(PYTEST) -q tests/core_api

test-coach: install ## coach contract tests only
	$(PYTEST) -q tests/coach

test-llm-sim: install ## LLM simulator tests only
	$(PYTEST) -q tests/llm_sim

test-worker: install ## briefing-worker and jobs-ledger contract tests only
	$(PYTEST) -q tests/briefing_worker

test-deploy: install test-tools ## proxy templates, Compose file, alert rules, Kubernetes overlays (kubectl kustomize)
	$(PYTEST) -q tests/deploy

test-stack: install ## whole-stack tests (make run's stack, through Caddy)
	$(PYTEST) -q tests/stack

test-browser: install test-tools ## the browser client in Debian's chromium (Playwright), against make run's stack
	$(PYTEST) -q tests/browser

containers-up: install ## the production Compose stack on this machine's Docker engine (set up from apt when missing); prints "ready" and the URL
	$(VENV)/bin/python -m pacer_devstack.containers up

containers-down: install ## remove every container, network and volume containers-up made (the images stay, as a cache)
	$(VENV)/bin/python -m pacer_devstack.containers down

test-containers: install ## the production topology on a real Docker engine (tests/containers/; skipped where no engine can be had)
	$(PYTEST) -q tests/containers

migrate: install ## apply pending migrations to the dev stack's database (make run does it at start)
	$(VENV)/bin/python -m pacer_devstack migrate

jobs: install ## jobs ledger CLI against make run's stack: make jobs ARGS="stuck" (or "reap --execute", "retry ID")
	$(VENV)/bin/python -m pacer_devstack.jobs_cli $(ARGS)

smoke: install ## latency smoke check of a deployed stack: make smoke URL=https://pacer.example.com
	$(VENV)/bin/python -m pacer_devstack.smoke $(if $(URL),--url $(URL))

lint: install ## ruff and mypy strict, on the sources and the tests
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(foreach m,$(MEMBERS),$(m)/src) tests

fmt: install ## format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install ## starts a stack on free ports: start-up time, idle memory, /health and /v1/home latency
	$(VENV)/bin/python -m pacer_devstack.bench

bench-coach: install ## the coach: 1,000 held streams, first-token latency, the reply log (memory, resume p99, CPU per token)
	$(VENV)/bin/python -m pacer_devstack.bench_coach $(ARGS)

bench-worker: install ## /v1/home p99 idle vs. during 50 briefing refreshes; reaper latency
	$(VENV)/bin/python -m pacer_devstack.bench_worker

bench-storm: install ## home/health p99 and coach CPU per token: idle, 200 hung streams + 50 jobs, 200 streams at 20 and 100 tok/s (ARGS="--seconds 10 --streams 50"; "--target containers" for the production containers)
	$(VENV)/bin/python -m pacer_devstack.bench_storm $(ARGS)

lock: $(UV) ## refresh uv.lock after changing a pyproject.toml
	$(UV) lock

clean: ## remove the environments (keeps .pacer data)
	rm -rf $(VENV) $(TOOLS_DIR)
