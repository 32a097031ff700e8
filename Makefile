# Kassa: `make demo` and `make test` work on a fresh clone with Python 3.11+ and npm.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
VENDOR := static/vendor/htmx.min.js
#: Translation sources are committed; the compiled catalogs the app loads are built from them.
PO_FILES := $(wildcard translations/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)

.DEFAULT_GOAL := help
.PHONY: help install assets translations translations-update demo test lint typecheck imports pytest chaos bench bench-quick clean

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

install: $(STAMP) assets translations ## Create .venv, install Python and npm packages, compile translations

assets: $(VENDOR) ## Copy front-end packages from node_modules into static/vendor

translations: $(MO_FILES) ## Compile translations/*/LC_MESSAGES/messages.po into the .mo files the app loads

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po | $(STAMP)
	$(BIN)/pybabel compile --statistics -l $* -i $< -o $@

# -k repeats babel.cfg's keywords for Babel < 2.18, which ignores them there.
translations-update: $(STAMP) ## Re-extract translations/messages.pot (the checkout and its error page, per babel.cfg) and merge it into every .po
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --ignore-dirs='.* ._ node_modules' \
		--project=Kassa --copyright-holder='the Kassa authors' --sort-output -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations
	@echo "Now translate every new or fuzzy entry in translations/*/LC_MESSAGES/messages.po."

demo: install ## Serve everything on http://127.0.0.1:5000 (SQLite, in-process Redis, demo tenant)
	$(BIN)/kassa demo

lint: install ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy, strict on core/, tenants/ and cli/
	$(BIN)/mypy

imports: install ## Layering rules (import-linter)
	$(BIN)/lint-imports

pytest: install ## The test suite only
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck imports pytest ## Everything CI checks (PostgreSQL/Redis/Chromium when DATABASE_URL/REDIS_URL are set)

chaos: install ## The fault suite at full size (500 payments, 50 worker kills, Redis/PostgreSQL restarts, fuzzing); figures in bench/results/chaos-latest.json
	KASSA_CHAOS_FULL=1 KASSA_CHAOS_RESULTS=bench/results/chaos-latest.json $(BIN)/pytest tests/chaos -p no:cacheprovider $(PYTEST_ARGS)

bench: install ## Every figure beside its ceiling, one run, PostgreSQL + Redis (DATABASE_URL, REDIS_URL; bench/README.md)
	$(BIN)/python -m bench $(or $(BENCH_ARGS),suite)

bench-quick: install ## A ~1-minute subset of `make bench`, for before/after figures in notes
	$(BIN)/python -m bench suite --seconds 4 --rounds 1 --payments 100 --confirm-pool 1000 --loop-seconds 10

clean: ## Remove the virtualenv, node_modules, vendored assets and the demo database
	rm -rf $(VENV) node_modules static/vendor instance .pytest_cache .mypy_cache .ruff_cache
	rm -f $(MO_FILES)
