# The README's two commands:
#   make demo   set everything up and run the main job against the built-in sandbox
#   make check  set everything up and run the whole check (format, lint, types, tests)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo check lint types test test-slow bench schema clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	scripts/ensure-rabbitmq
	$(BIN)/sipline demo

check: setup lint types test

lint: setup
	$(BIN)/ruff format --check contracts worker tests benchmarks
	$(BIN)/ruff check contracts worker tests benchmarks

types: setup
	$(BIN)/mypy

test: setup
	scripts/ensure-rabbitmq
	scripts/ensure-postgres
	$(BIN)/pytest -m "not slow"

test-slow: setup
	scripts/ensure-rabbitmq
	scripts/ensure-postgres
	$(BIN)/pytest -m slow

bench: setup  ## make bench NAMES="sweep_requests worker_cost"
	scripts/ensure-rabbitmq
	$(BIN)/python -m benchmarks $(NAMES)

schema: setup
	$(BIN)/sipline schema

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
