# The two commands of the README:
#   make demo   set up everything and run the hub with a simulated cabin (SQLite, in-process)
#   make test   set up everything and run the whole test suite (lint, types, contracts,
#               tests on SQLite and on PostgreSQL)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup lint typecheck contracts test-sqlite test-postgres clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m hub demo

lint: $(STAMP)
	$(BIN)/ruff check cabin_agent hub devices web tests bench
	$(BIN)/ruff format --check cabin_agent hub devices web tests bench

typecheck: $(STAMP)
	$(BIN)/mypy cabin_agent hub devices web bench

contracts: $(STAMP)
	$(BIN)/lint-imports

test-sqlite: $(STAMP)
	HUB_TEST_DATABASE=sqlite $(BIN)/pytest -p no:cacheprovider --durations=15

test-postgres: $(STAMP)
	HUB_TEST_DATABASE=postgresql $(BIN)/pytest -p no:cacheprovider -m db --durations=15

test: $(STAMP)
	bash tests/support/system-deps.sh
	$(MAKE) --no-print-directory lint typecheck contracts test-sqlite test-postgres

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
