# Run `make` (or `make help`) to list the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
# An activated conda environment (any but base), e.g. made from environment.yml, is used as it
# is: no second environment in .venv. Otherwise .venv is created on first use.
CONDA_ENV := $(if $(filter-out base,$(CONDA_DEFAULT_ENV)),$(CONDA_PREFIX))
ENV_DIR := $(if $(CONDA_ENV),$(CONDA_ENV),$(VENV))
BIN := $(ENV_DIR)/bin
STAMP := $(if $(CONDA_ENV),$(CONDA_ENV)/.mbc-trials-installed,$(VENV)/.installed)
# The named Jupyter kernel of this project (JupyterLab, VS Code and other Jupyters list it).
KERNEL_NAME := mbc-trials
KERNEL_DISPLAY := Python (mbc-trials)
# JupyterLab refuses to start as root without --allow-root (containers, cloud VMs).
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
SEED ?= 20261121
ARGS ?=

.PHONY: help setup data report test coverage lint lab bench clean clean-demo

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml constraints.txt
	@if [ -n "$(CONDA_ENV)" ]; then echo "using the activated conda environment $(CONDA_ENV)"; \
	else test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	$(BIN)/python -m ipykernel install --user --name $(KERNEL_NAME) --display-name "$(KERNEL_DISPLAY)" >/dev/null
	@echo "Jupyter kernel '$(KERNEL_DISPLAY)' registered (this environment's Python)"
	@if [ -e .git ] && [ -z "$$CI" ]; then $(BIN)/pre-commit install >/dev/null && echo "pre-commit hooks installed"; fi
	@touch $(STAMP)

setup: $(STAMP) ## Install the pinned environment (.venv, or the activated conda env) and the kernel

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

NBVAL := $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider notebooks

test: data lint ## Lint, unit tests, then every notebook executed under nbval (no coverage: fast)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests
	$(NBVAL)

coverage: data lint ## The same as test, with line coverage of helpers measured (what CI runs)
	$(BIN)/python -m pytest -q -p no:cacheprovider --cov=helpers --cov-report=term:skip-covered tests
	$(NBVAL)

lab: data ## Open JupyterLab on the repository with the project kernel
	$(BIN)/jupyter lab --notebook-dir=. $(LAB_ROOT)

bench: data ## Time the pipeline on x1, x10, x100 cohorts (per notebook, peak memory; naive loop at x1, x10)
	$(BIN)/python -m helpers.pipeline.bench

clean: ## Remove generated outputs (reports, figures, processed data); raw data are kept
	find reports figures data/processed -mindepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf data/processed.staging data/processed.old

clean-demo: clean ## Also remove data/raw, but only if it is the synthetic demo cohort
	@if grep -q '"synthetic": true' data/raw/manifest.json 2>/dev/null; then \
		find data/raw -mindepth 1 ! -name README.md -exec rm -rf {} +; echo "demo cohort removed"; \
	else echo "data/raw is not the demo cohort: left untouched"; fi
