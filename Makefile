# hpsearch: `make run` (the default offline search and a report), `make test` (the suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SPACE  ?= search_spaces/digits.yaml
RUN_ARGS ?= --strategy random --max-trials 6 --epochs 5

.PHONY: install run test test-fast lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamp re-installs only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/hpsearch validate $(SPACE)
	$(BIN)/hpsearch run $(SPACE) $(RUN_ARGS)

test: install
	$(BIN)/python -m pytest -q --durations=15

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check hpsearch tests benchmarks
	$(BIN)/ruff format --check hpsearch tests benchmarks
	$(BIN)/mypy hpsearch

format: install
	$(BIN)/ruff format hpsearch tests benchmarks
	$(BIN)/ruff check --fix hpsearch tests benchmarks

# Everything that runs on this CPU machine (P1-P6), under 30 min on 2 cores; each script's
# docstring says what it measures, and run_all.py prints each one's wall time and the total.
# Search efficiency (P3) runs at a 100-epoch budget here: BENCH_P3="--budget 300" is the
# longer study. gpu_packing.py (P7) needs a GPU and says "skipped" without one.
BENCH_P3 ?= --budget 100
bench: install
	$(BIN)/python benchmarks/run_all.py --p3 "$(BENCH_P3)"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
