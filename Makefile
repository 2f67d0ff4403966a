# The two commands: `make run` (server with demo data) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
RUN_SETTINGS ?= config.settings.local
FAST_TIER := not browser and not e2e and not services
# Parallel test workers (pytest-xdist, a test file per worker at a time): the wire tests mostly
# wait on servers they started, so one more than the cores. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(min(8, (os.cpu_count() or 1) + 1))")
PARALLEL = -n $(TEST_WORKERS) --dist loadfile

.PHONY: run test test-fast bench lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.deps

## run: set up, migrate, seed the demo data and serve with daphne on http://127.0.0.1:8000
run: $(VENV)/.deps
	DJANGO_SETTINGS_MODULE=$(RUN_SETTINGS) $(BIN)/python manage.py migrate --noinput
	DJANGO_SETTINGS_MODULE=$(RUN_SETTINGS) $(BIN)/python manage.py seed_demo
# config/foreground.py: Ctrl-C reaches daphne alone, which drains and exits 0, and so does make.
	DJANGO_SETTINGS_MODULE=$(RUN_SETTINGS) $(BIN)/python -m config.foreground --url http://$(HOST):$(PORT)/ -- \
		$(BIN)/daphne -b $(HOST) -p $(PORT) --websocket-max-message-size 1048576 config.asgi:application

## test: set up and run lint plus the whole test suite
test: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PARALLEL) $(PYTEST_ARGS)

## test-fast: lint plus the tests that need no server process, browser or services (seconds)
test-fast: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -m "$(FAST_TIER)" $(PARALLEL) $(PYTEST_ARGS)

## bench: start every server variant on loopback, load it, print the table (bench/results/*.json)
bench: $(VENV)/.dev-deps
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-deps
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 .test-db.sqlite3* staticfiles .pytest_cache .ruff_cache
