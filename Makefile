# Two commands for users (`make run`, `make test`); `make check` for developers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` installs what running needs; `make test` and `make check` add the test and lint tools.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
ORG ?= bo-vest
# The port of the municipality's reference receiver in the demo.
RECEIVER_PORT ?= 7390
# pytest-xdist workers for `make test`; each has its own PostgreSQL database. The tests
# wait on processes and sockets much of the time, so more workers than cores pays off.
# `make test TEST_WORKERS=0` runs the suite in this one process.
TEST_WORKERS ?= 4
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="tests/audit -x"`.
PYTEST_ARGS ?=

.PHONY: run test test-fast check bench schemas clean

$(RUN_STAMP): pyproject.toml constraints.txt
	bash scripts/system-packages.sh run
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml constraints.txt
	bash scripts/system-packages.sh test
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## run: migrate the embedded SQLite database, load the demo department, create the log keys,
##      start the municipality's reference receiver, push this week's release to it, verify
##      the disclosure log, serve on 127.0.0.1:8000 (scripts/demo.sh)
run: $(RUN_STAMP)
	BIN=$(BIN) ORG=$(ORG) RECEIVER_PORT=$(RECEIVER_PORT) bash scripts/demo.sh --serve

## test: the whole suite (SQLite and PostgreSQL, the slow end-to-end tests too) in parallel;
##       the 15 slowest tests are listed at the end
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --maxschedchunk 2 --durations=15 $(PYTEST_ARGS)

## test-fast: the developer's loop: the suite without the tests marked slow
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --maxschedchunk 2 --durations=15 -m "not slow" $(PYTEST_ARGS)

## check: lint, format and type checks on every package
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy --strict bench/*.py

## bench: the benchmarks in bench/ (slow; not part of the test suite)
bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/policy.py
	$(BIN)/python bench/disclosure_log.py
	$(BIN)/python bench/push.py
	$(BIN)/python bench/api.py

## schemas: re-export the JSON Schemas of the data contract into schemas/json
schemas: $(STAMP)
	$(BIN)/python -m schemas.export

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
