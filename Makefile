# hpsearch: `make run` (the default offline search and a report), `make test` (the suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SPACE  ?= search_spaces/digits.yaml
RUN_ARGS ?= --strategy random --max-trials 6 --epochs 5
# The suite in two pytest-xdist workers, a test file each at a time (a file's module fixtures
# run once); `make test TEST_WORKERS=` runs it in one process.
TEST_WORKERS ?= -n 2 --dist loadfile

.PHONY: install run test test-fast lint format bench bench-study clean

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
	$(BIN)/python -m pytest -q $(TEST_WORKERS) --durations=15

test-fast: install
	$(BIN)/python -m pytest -q $(TEST_WORKERS) -m "not slow"

lint: install
	$(BIN)/ruff check hpsearch tests benchmarks
	$(BIN)/ruff format --check hpsearch tests benchmarks
	$(BIN)/mypy hpsearch

format: install
	$(BIN)/ruff format hpsearch tests benchmarks
	$(BIN)/ruff check --fix hpsearch tests benchmarks

# Everything that runs on this CPU machine (P1-P6), under 30 min on 2 cores; each script's
# docstring says what it measures, and run_all.py prints each script's wall time and the total.
# Search efficiency (P3) runs its quick form here: one seed of each task. `make bench-study`
# is the study the README's P3 tables come from (5 seeds, about 2 h on 2 cores; it resumes
# from benchmarks/results/p3 if cut short). gpu_packing.py (P7) says "skipped" without a GPU.
BENCH_P3 ?= --seeds 1 --budget 27 81
bench: install
	$(BIN)/python benchmarks/run_all.py --p3 "$(BENCH_P3)"

bench-study: install
	$(BIN)/python benchmarks/search_efficiency.py --seeds 1 2 3 4 5 --budget 27 81 \
		--work benchmarks/results/p3 --plots docs

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
