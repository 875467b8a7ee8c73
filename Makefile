# The two commands: `make run` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-embedded test-lowest lint format check-migrations fuzz bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Serve the API on 127.0.0.1:8000 (embedded PostgreSQL unless DATABASE_URL / DB_* is set)
run: install
	$(BIN)/python -m backend.scripts.serve

## The whole suite in a fresh database (TEST_DATABASE_URL, else 127.0.0.1:5432, else embedded)
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## The suite on the embedded PostgreSQL 18 (what a fresh machine gets), even where 5432 answers
test-embedded: install
	TEST_DATABASE=embedded $(BIN)/python -m pytest $(PYTEST_ARGS)

## The suite at the lowest versions pyproject allows (uv --resolution lowest-direct), in .venv-lowest
test-lowest:
	@test -x .venv-lowest/bin/python || $(PYTHON) -m venv .venv-lowest
	.venv-lowest/bin/python -m pip install --quiet --upgrade pip uv
	.venv-lowest/bin/uv pip install --quiet --python .venv-lowest/bin/python --resolution lowest-direct -e '.[dev]'
	.venv-lowest/bin/python -m pip list --format=freeze | grep -iE '^(fastapi|starlette|sqlalchemy|pydantic|pydantic-settings|uvicorn|alembic|psycopg2-binary)=='
	.venv-lowest/bin/python -m pytest $(PYTEST_ARGS)

## ruff (lint + format check) and mypy --strict on backend/
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy backend

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Migrations and schema: upgrade/downgrade/upgrade round trip, no Alembic autogenerate diff,
## and `python -m backend.scripts.db_introspection` exiting 0 on a freshly migrated database
check-migrations: install
	$(BIN)/python -m pytest -q tests/integration/test_migrations.py tests/integration/test_introspection.py

## Contract fuzzing: schemathesis on the running app's OpenAPI, as admin and as a tenant
fuzz: install
	$(BIN)/python tests/contract/run_schemathesis.py

## Each endpoint against its raw-psycopg2 floor (loopback, wrk); table + benchmarks/results/latest.json
bench: install
	$(BIN)/python -m benchmarks.bench $(BENCH_ARGS)

## Time vs data size (1%, 10%, 100% of 10M odds, 1M bets, 2M audit rows) through the running app
.PHONY: bench-scale
bench-scale: install
	$(BIN)/python -m benchmarks.scale $(BENCH_SCALE_ARGS)

clean:
	rm -rf $(VENV) .venv-lowest .pytest_cache .mypy_cache .ruff_cache
