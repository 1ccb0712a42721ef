# The README's two commands: `make demo` and `make test`. Both set everything up first.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint unit ui docs
setup:
	@bash scripts/setup.sh

demo: setup
	$(BIN)/sec-assets demo

lint: setup
	$(BIN)/ruff check sec_assets sec_assets_tests
	$(BIN)/ruff format --check sec_assets sec_assets_tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/dg check defs

# Everything CI runs: lint, types, then every test (slow ones included).
test: lint
	TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 $(BIN)/pytest -q --durations=30

# The fast core tests only, while developing.
unit: setup
	$(BIN)/pytest -q -m "not slow and not cluster"

ui: setup
	DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/.sec/dagster} $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1

# Regenerate docs/reference/ (settings, catalog, CLI, executor) from the code.
docs: setup
	$(BIN)/python -m sec_assets.docs_reference
