# One-stop commands. `make demo` and `make test` install into .venv first when needed.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Written after a complete install; targets depend on it, so a second run installs nothing.
# It is older than pyproject.toml after a dependency change, which reinstalls.
STAMP := $(VENV)/.mmrag-installed
# llama.cpp built for any x86-64 with AVX2. Its default native build uses the AMX weight
# repacking on Xeon Sapphire Rapids, which crashes (segfault) on batched prompt
# evaluation in llama-cpp-python 0.3.36. --no-cache-dir stops pip reusing a native wheel.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: install demo test test-all check lint format typecheck bench eval clean

install: $(STAMP)  ## Create .venv: torch 2.13.0 (CPU) first, then mmrag with its offline models and dev tools

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "mmrag needs Python >= 3.11; $(PY) is $$($(PY) -V 2>&1). Run: make PY=python3.12 ..."; exit 1; }
	@$(PY) -c 'import ensurepip' 2>/dev/null || { \
	  echo "$(PY) cannot create virtual environments; on Debian/Ubuntu: apt install python3-venv"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --no-cache-dir 'llama-cpp-python>=0.3.36,<0.4'
	$(BIN)/pip install -e '.[local,eval,dev]'
	touch $(STAMP)

demo: $(STAMP)  ## Install if needed, then generate the demo corpus, ingest it offline, and search it
	$(BIN)/mmrag demo --dir demo-corpus

test: $(STAMP)  ## Install if needed, then the fast test suite (slow and network tests deselected)
	$(BIN)/pytest -q

test-all: $(STAMP)  ## Everything, including real-model and shared-data tests
	$(BIN)/pytest -q -m ''

lint: $(STAMP)
	$(BIN)/ruff check mmrag tests benchmarks cli.py
	$(BIN)/ruff format --check mmrag tests benchmarks cli.py

format: $(STAMP)
	$(BIN)/ruff format mmrag tests benchmarks cli.py
	$(BIN)/ruff check --fix mmrag tests benchmarks cli.py

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test  ## What CI runs

bench: $(STAMP)  ## Benchmarks on ../shared/data (skipped when absent); each prints one JSON line
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/ingest.py --store bench-out/mmlongbench
	$(BIN)/python benchmarks/retrieval.py --store bench-out/mmlongbench
	$(BIN)/python benchmarks/answers.py --store bench-out/mmlongbench
	$(BIN)/python benchmarks/personal.py
	$(BIN)/python benchmarks/rap_qa.py

eval: $(STAMP)  ## The committed example reports (MMLongBench-Doc dev, Flickr8k); resumable
	$(BIN)/mmrag eval run -d mmlongbench -p text-only -p hybrid-summaries -p default --limit 40 -o evals/runs/mmlongbench-dev
	$(BIN)/mmrag eval report --no-thumbnails evals/runs/mmlongbench-dev
	$(BIN)/mmrag eval run -d flickr8k -p hybrid-summaries -p default --no-generate -o evals/runs/flickr8k-captions
	$(BIN)/mmrag eval report --no-thumbnails evals/runs/flickr8k-captions

clean:
	rm -rf demo-corpus .mmrag .pytest_cache .mypy_cache .ruff_cache
