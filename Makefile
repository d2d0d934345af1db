# One command runs the main job, one runs the tests; each builds .venv/ first if needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: report test lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch, pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[frameworks,dev]"
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/parity report

# TEST_PROCESSES: pytest-xdist processes (README); 0 runs the suite in this one. PYTEST_ARGS: more pytest options.
TEST_PROCESSES ?= 2
PYTEST_ARGS ?=

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_PROCESSES) --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check scratch framework parity tests benchmarks
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/parity bench all

clean:
	rm -rf $(VENV)
