# The two commands: `make run` and `make test`. Both install into .venv first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck architecture unit install clean bench lock

# Exact versions with hashes from requirements.lock, then the project itself (no resolving).
$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11+) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## make run: start crisiscomms on SQLite (./var/crisis.db) with the example playbooks,
## demo users and the sandbox channel.
run: $(STAMP)
	$(BIN)/crisis validate playbooks
	$(BIN)/crisis demo
	$(BIN)/crisis serve

## make test: lint, types, architecture contract and the whole pytest suite.
test: lint typecheck architecture
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check engine notifiers web tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

architecture: $(STAMP)
	$(BIN)/lint-imports

## make bench: run every benchmark and rewrite BENCHMARKS.md (PostgreSQL from
## CRISIS_BENCH_POSTGRES_URL or CRISIS_TEST_POSTGRES_URL; about twenty minutes on 2 cores).
bench: $(STAMP)
	$(BIN)/python bench/report.py

## make lock: re-resolve pyproject.toml's dependencies (and dev extras) into requirements.lock,
## exact versions with the hashes of every file; commit the result after `make test` passes.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --extra dev --generate-hashes --strip-extras --allow-unsafe \
	  --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
