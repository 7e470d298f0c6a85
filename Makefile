# Two commands do all the set-up on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LIBRARY ?=
PORT ?= 8000
WORKERS ?=
DATA_DIR ?= .data

# Exact, hashed versions of every dependency (Python 3.11 on Linux), compiled by uv from
# pyproject.toml: lock.txt (runtime and dev, what the venv and CI install), runtime.txt (the
# image's, same versions), bench.txt (lock.txt and locust, for benchmarks/cache.py).
LOCK := requirements/lock.txt
RUNTIME_LOCK := requirements/runtime.txt
BENCH_LOCK := requirements/bench.txt
UV_VERSION := 0.13.9
UV := $(VENV)/uv-$(UV_VERSION)/bin/uv
COMPILE = $(UV) pip compile --quiet --python-version 3.11 --python-platform linux \
	--generate-hashes --custom-compile-command "make lock"

.PHONY: serve test check lint format bench bench-deps venv assets screenshots clean lock upgrade opawg

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the lock or the project's metadata changes.
$(VENV)/.installed: $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# uv from PyPI at a pinned version, in a folder of its own (not among the locked packages).
$(UV): | $(BIN)/python
	$(BIN)/python -m pip install --quiet --target $(VENV)/uv-$(UV_VERSION) uv==$(UV_VERSION)

# Recompile the locks after a change to pyproject.toml, keeping every pin that still fits.
# The runtime and bench locks are constrained by lock.txt, so all three agree.
lock: $(UV)
	$(COMPILE) $(UPGRADE) --extra dev -o $(LOCK) pyproject.toml
	$(COMPILE) -c $(LOCK) -o $(RUNTIME_LOCK) pyproject.toml
	$(COMPILE) $(UPGRADE) -c $(LOCK) --extra dev --extra bench -o $(BENCH_LOCK) pyproject.toml

# Every dependency to its newest release within pyproject.toml's bounds, then the checks
# and the unit tests against them (the whole suite is `make test`).
upgrade:
	$(MAKE) lock UPGRADE=--upgrade
	$(MAKE) venv
	bash scripts/check
	$(BIN)/pytest -q -n 2 tests/unit

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

# Re-vendor the OPAWG user-agent lists from a tarball of their build/ folder
# (streamer/analytics/data/opawg/README.md).
opawg: venv
	bash scripts/opawg-update $(OPAWG)

# docs/screenshots/: every admin page at desktop and phone width (runs the browser tests).
screenshots: venv assets
	bash scripts/screenshots

bench: venv
	$(BIN)/python benchmarks/ranges.py

# locust and its dependencies, for benchmarks/cache.py.
bench-deps: venv
	$(BIN)/python -m pip install --quiet --require-hashes -r $(BENCH_LOCK)

clean:
	rm -rf $(VENV) web/node_modules streamer/admin/static/vendor .data .coverage .coverage.* htmlcov .pytest_cache .mypy_cache .ruff_cache
