# fedchain: two commands for a new user.
#   make demo   set everything up, then run the demo (embedded chain, hospitals scenario)
#   make test   set everything up, then run the whole test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
PYTEST_ARGS ?=

.PHONY: setup demo test contracts bench lint clean

setup: $(STAMP) $(NPM_STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch==2.13.0 is pinned so pip takes the CPU wheel (a range would pull a CUDA build)
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

demo: setup
	$(BIN)/fedchain demo

test: setup
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

contracts: $(NPM_STAMP)
	node scripts/compile_contracts.mjs

bench: setup
	$(BIN)/python -m benchmarks.run_all

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) node_modules
