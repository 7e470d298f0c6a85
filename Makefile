# Two commands do all the set-up on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LIBRARY ?=
PORT ?= 8000
WORKERS ?=
DATA_DIR ?= .data

.PHONY: serve test check lint format bench venv assets screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# The web admin's front-end libraries from npm (scripts/assets; a no-op when up to date).
assets:
	bash scripts/assets

# With no LIBRARY a small demo library of real audio is generated under $(DATA_DIR)/demo.
serve: venv assets
	$(BIN)/streamer serve --data-dir $(DATA_DIR) --port $(PORT) \
		$(if $(LIBRARY),--library $(LIBRARY),--demo) $(if $(WORKERS),--workers $(WORKERS))

test: venv assets
	bash scripts/test-services
	bash scripts/check
	bash scripts/test

check: venv assets
	bash scripts/check

format: venv assets
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	web/node_modules/.bin/biome check --write .

# docs/screenshots/: every admin page at desktop and phone width (runs the browser tests).
screenshots: venv assets
	bash scripts/screenshots

bench: venv
	$(BIN)/python benchmarks/ranges.py

clean:
	rm -rf $(VENV) web/node_modules streamer/admin/static/vendor .data .coverage .coverage.* htmlcov .pytest_cache .mypy_cache .ruff_cache
