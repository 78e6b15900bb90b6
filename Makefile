# Two commands for users (`make run`, `make test`); `make check` for developers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ORG ?= bo-vest
# The demo's recipient: a directory drop, so no peer process is needed.
DEMO_RECIPIENTS ?= [{"id": "albertslund/visitation", "directory": "var/outbox/albertslund-visitation"}]

.PHONY: run test check bench schemas clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## run: migrate the embedded SQLite database, load the demo department, create the log keys,
##      push this week's release into var/outbox, verify the disclosure log, serve on 127.0.0.1:8000
run: $(STAMP)
	$(BIN)/broker db upgrade
	$(BIN)/broker demo-data --out var/demo-export.csv
	$(BIN)/broker ingest var/demo-export.csv --org $(ORG)
	$(BIN)/broker policy check
	$(BIN)/broker policy explain albertslund-visitation-weekly
	$(BIN)/broker keys init
	BROKER_RECIPIENTS='$(DEMO_RECIPIENTS)' $(BIN)/broker push albertslund-visitation-weekly
	$(BIN)/broker audit verify
	BROKER_RECIPIENTS='$(DEMO_RECIPIENTS)' $(BIN)/broker serve

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
