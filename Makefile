# Two commands for users (`make run`, `make test`); `make check` for developers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ORG ?= bo-vest

.PHONY: run test check bench schemas clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## run: migrate the embedded SQLite database, load the demo department, create the log keys,
##      verify the disclosure log, serve on 127.0.0.1:8000 (policy versions go on record)
run: $(STAMP)
	$(BIN)/broker db upgrade
	$(BIN)/broker demo-data --out var/demo-export.csv
	$(BIN)/broker ingest var/demo-export.csv --org $(ORG)
	$(BIN)/broker policy check
	$(BIN)/broker policy explain albertslund-visitation-weekly
	$(BIN)/broker keys init
	$(BIN)/broker audit verify
	$(BIN)/broker serve

## test: the whole suite (SQLite and PostgreSQL)
test: $(STAMP)
	$(BIN)/python -m pytest

## check: lint, format and type checks on every package
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## bench: the benchmarks in bench/ (slow; not part of the test suite)
bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/policy.py
	$(BIN)/python bench/audit.py

## schemas: re-export the JSON Schemas of the data contract into schemas/json
schemas: $(STAMP)
	$(BIN)/python -m schemas.export

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
