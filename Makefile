# Run `make` (or `make help`) to list the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SEED ?= 20261121
ARGS ?=

.PHONY: help setup data report test lint lab bench clean clean-demo

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@if [ -d .git ] && [ -z "$$CI" ]; then $(BIN)/pre-commit install >/dev/null && echo "pre-commit hooks installed"; fi
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv (if missing) and install the pinned environment

data: $(STAMP) ## Build the synthetic demo cohort in data/raw, unless data are already there
	@if ls data/raw/*/patients.* >/dev/null 2>&1; then \
		echo "data/raw already holds data: using it"; \
	else \
		$(BIN)/python -m helpers.simulate --out data/raw --seed $(SEED); \
	fi

report: data ## Run every notebook and build reports/index.html (ARGS="--only 02_tdm1_response")
	$(BIN)/python -m helpers.pipeline $(ARGS)

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: data lint ## Lint, unit tests, then every notebook executed under nbval
	$(BIN)/python -m pytest --cov=helpers --cov-report=term:skip-covered tests
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider notebooks

lab: data ## Open JupyterLab on the repository with the project kernel
	$(BIN)/jupyter lab --notebook-dir=.

bench: data ## Time the pipeline on x1, x10, x100 cohorts (per notebook, peak memory; naive loop at x1, x10)
	$(BIN)/python -m helpers.pipeline.bench

clean: ## Remove generated outputs (reports, figures, processed data); raw data are kept
	find reports figures data/processed -mindepth 1 ! -name README.md -exec rm -rf {} +

clean-demo: clean ## Also remove data/raw, but only if it is the synthetic demo cohort
	@if grep -q '"synthetic": true' data/raw/manifest.json 2>/dev/null; then \
		find data/raw -mindepth 1 ! -name README.md -exec rm -rf {} +; echo "demo cohort removed"; \
	else echo "data/raw is not the demo cohort: left untouched"; fi
