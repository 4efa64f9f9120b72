# One-stop commands. `make install` sets up .venv with everything the offline default needs.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-all check lint format typecheck bench clean

install:  ## Create .venv: torch 2.13.0 (CPU) first, then mmrag with its offline models and dev tools
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[local,dev]'

demo:  ## Generate the demo corpus, ingest it offline, and search it
	$(BIN)/mmrag demo --dir demo-corpus

test:  ## Fast test suite (slow and network tests deselected)
	$(BIN)/pytest -q

test-all:  ## Everything, including real-model and shared-data tests
	$(BIN)/pytest -q -m ''

lint:
	$(BIN)/ruff check mmrag tests benchmarks
	$(BIN)/ruff format --check mmrag tests benchmarks

format:
	$(BIN)/ruff format mmrag tests benchmarks
	$(BIN)/ruff check --fix mmrag tests benchmarks

typecheck:
	$(BIN)/mypy

check: lint typecheck test  ## What CI runs

bench:  ## Benchmarks on ../shared/data (skipped when absent); each prints one JSON line
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/retrieval.py

clean:
	rm -rf demo-corpus .mmrag .pytest_cache .mypy_cache .ruff_cache
