# Kassa: `make demo` and `make test` work on a fresh clone with Python 3.11+ and npm.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
VENDOR := static/vendor/htmx.min.js

.DEFAULT_GOAL := help
.PHONY: help install assets demo test lint typecheck imports pytest bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Kassa needs Python 3.11 or newer: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

$(VENDOR): node_modules/.package-lock.json
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)

install: $(STAMP) assets ## Create .venv, install Python and npm packages

assets: $(VENDOR) ## Copy front-end packages from node_modules into static/vendor

demo: install ## Serve everything on http://127.0.0.1:5000 (SQLite, in-process Redis, demo tenant)
	$(BIN)/kassa demo

lint: install ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy, strict on core/ and tenants/
	$(BIN)/mypy

imports: install ## Layering rules (import-linter)
	$(BIN)/lint-imports

pytest: install ## The test suite only
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck imports pytest ## Everything CI checks (PostgreSQL/Redis/Chromium when DATABASE_URL/REDIS_URL are set)

bench: install ## Benchmarks (prints figures)
	$(BIN)/python -m bench

clean: ## Remove the virtualenv, node_modules, vendored assets and the demo database
	rm -rf $(VENV) node_modules static/vendor instance .pytest_cache .mypy_cache .ruff_cache
