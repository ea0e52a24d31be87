# The commands: `make run`, `make test` and `make lint`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format screenshots clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -qq -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -qq -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/python manage.py run

test: $(VENV)/.installed-dev
	bash scripts/test.sh $(ARGS)

# Ruff, then mypy (its settings in pyproject.toml). mypy imports the settings (the Django
# plugin): HOMESEC_ENV_FILE=/dev/null keeps a local .env out of it, so a fresh clone and
# CI lint the same; with nothing set the settings need nothing.
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	HOMESEC_ENV_FILE=/dev/null $(BIN)/mypy

# A PNG of every page (desktop and phone width) with demo data, into docs/screenshots/;
# ARGS="--as viewer --out DIR" shoots what a viewer sees, elsewhere.
screenshots: $(VENV)/.installed-dev
	bash scripts/screenshots.sh $(ARGS)

format: $(VENV)/.installed-dev
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
