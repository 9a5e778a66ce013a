# midwatch developer entry points. Every target creates or reuses .venv by itself.
#   make test         real services + the whole suite (what CI runs)
#   make test-unit    no services: pytest -m "not integration"
#   make demo | bench | lint | services-up | services-down | venv

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Re-install only when pyproject.toml is newer than the last successful install.
STAMP := $(VENV)/.midwatch-installed
SERVICES := bash deploy/local/services.sh
PYTEST_ARGS ?=
PYTEST := $(PY) -m pytest -q -p no:cacheprovider
# Two pytest-xdist workers, each test file on one of them (tests/conftest.py groups them):
# CI's wall time on two cores. Files go out in collection order (integration first: the long
# ones start early, short unit files fill the end), not xdist's most-tests-first.
# PYTEST_WORKERS=0 runs serially, in one process.
PYTEST_WORKERS ?= 2
PYTEST_XDIST := $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder)

.PHONY: help venv demo test test-unit services-up services-down services-status bench lint ruff audit

help:
	@sed -n '2,4p' Makefile | sed 's/^# \{0,1\}//'

# grafana-client brings niquests -> urllib3-future, whose wheel installs a .pth hook that
# replaces urllib3 in place at every interpreter start: the Elasticsearch client and the
# notifiers would then run on the fork (25-40% more client CPU per request, measured). Built
# from source with URLLIB3_NO_OVERRIDE it lives beside urllib3 as urllib3_future only.
PIP_INSTALL := URLLIB3_NO_OVERRIDE=1 $(PY) -m pip install -q --no-binary urllib3-future

# The native fast path (native/, Rust through maturin, issue 25): built on every machine with
# cargo; where it cannot build the pure-Python path runs, and CI's test of it fails.
NATIVE_SRC := native/Cargo.toml native/Cargo.lock native/pyproject.toml $(wildcard native/src/*.rs)

$(STAMP): pyproject.toml $(NATIVE_SRC)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[dev]'
	PATH="$$PATH:$$HOME/.cargo/bin" $(PIP_INSTALL) ./native || echo "make venv: native/ did not build (is cargo installed?): \
	the pure-Python parse path runs alone; CI fails on this" >&2
	@# Bytecode written once here: where PYTHONDONTWRITEBYTECODE is set, an editable install
	@# otherwise compiles every module at every `midwatch` start (0.15 s CPU a start, measured).
	$(PY) -m compileall -q collector rules dashboards midwatch
	$(PY) -c 'import sys, urllib3, importlib.metadata as m; v = m.version("urllib3"); sys.exit(0 if urllib3.__version__ == v else f"urllib3 {v} is overridden by urllib3-future {urllib3.__version__}: rm -rf $(VENV), then make venv")'
	@touch $@

venv: $(STAMP)

demo: venv
	$(VENV)/bin/midwatch demo

services-up:
	$(SERVICES) up

services-down:
	$(SERVICES) down

services-status:
	$(SERVICES) status

test: venv services-up
	eval "$$($(SERVICES) env)" && $(PYTEST) $(PYTEST_XDIST) $(PYTEST_ARGS)

test-unit: venv
	$(PYTEST) $(PYTEST_XDIST) -m "not integration" $(PYTEST_ARGS)

# bench/run_all.sh when present, else every bench/*.py; both see the services' addresses.
bench: venv services-up
	@eval "$$($(SERVICES) env)"; \
	export PATH="$(CURDIR)/$(VENV)/bin:$$PATH"; \
	if [[ -f bench/run_all.sh ]]; then \
	  bash bench/run_all.sh; \
	else \
	  shopt -s nullglob; scripts=(bench/*.py); \
	  (( $${#scripts[@]} )) || { echo "no bench/*.py to run"; exit 1; }; \
	  for s in "$${scripts[@]}"; do echo "== $$s"; $(PY) "$$s"; done; \
	fi

lint: ruff audit

ruff: venv
	$(VENV)/bin/ruff check .

# Audits requirements.lock (every pinned distribution of the venv) exactly as pinned: no
# resolution, no install (--no-deps --disable-pip), so the result does not drift with the index.
# A lock that differs from the venv fails first: the audit must be of what actually runs.
# --strict: without it pip-audit exits 0 having audited nothing when it cannot reach a
# vulnerability database (every package "could not be audited"), which reads as a pass.
# AUDIT=0 skips the audit, e.g. offline. SECURITY.md says how CI runs it.
AUDIT ?= 1
LOCK := requirements.lock
audit: venv
	@if [[ "$(AUDIT)" == 0 ]]; then echo "pip-audit skipped (AUDIT=0)"; exit 0; fi; \
	diff <(grep -v '^#' $(LOCK)) <($(VENV)/bin/pip freeze --exclude-editable) >/dev/null \
	  || { echo "$(LOCK) differs from the venv: $(VENV)/bin/pip freeze --exclude-editable > $(LOCK)"; exit 1; }; \
	$(VENV)/bin/pip-audit --strict --progress-spinner off -r $(LOCK) --no-deps --disable-pip $(PIP_AUDIT_ARGS) \
	  || { echo "pip-audit failed, or could not reach a vulnerability database (its default, PyPI's per-version JSON API; or OSV with PIP_AUDIT_ARGS='--vulnerability-service osv')"; exit 1; }
