# Swarm. `make run` and `make test` are the whole set-up.
SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
PY := $(VENV)/bin/python
# Django 6 needs Python 3.12+. Take python3.13/python3.12 from PATH when they run, else pyenv's.
PYTHON ?= $(shell for c in python3.13 python3.12 $$HOME/.pyenv/versions/3.13*/bin/python3.13 $$HOME/.pyenv/versions/3.12*/bin/python3.12; do \
	  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then command -v $$c; break; fi; done)

.PHONY: run test test-fast worker bench soak lint fmt deps sysdeps testdeps clean-venv

$(VENV)/.installed: requirements.txt
	@if [ -z "$(PYTHON)" ]; then echo "ERROR: Swarm needs Python 3.12 or newer (Django 6 refuses 3.11). Install python3.12 or python3.13 and retry." >&2; exit 1; fi
	@echo "Creating $(VENV) with $(PYTHON)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

# `swarm`, the command line: pyproject.toml's console entry point, installed editable once (the checkout's swarm_cli
# is what runs, so a change to it needs no reinstall; a change to [project.scripts] does: rm .venv/bin/swarm first).
# A link an older Makefile made goes first: pip would write through it.
$(VENV)/bin/swarm: | $(VENV)/.installed
	@if [ -L $@ ]; then rm -f $@; fi
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

deps: $(VENV)/.installed $(VENV)/bin/swarm

# bubblewrap is the agents' sandbox; without it Swarm refuses to run agent commands (and says so).
sysdeps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing bubblewrap (agent sandbox)"; (apt-get install -y -qq bubblewrap >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null)); \
	  else echo "NOTE: install bubblewrap (apt-get install bubblewrap) so agents can run commands in a sandbox."; fi; }

# The browser tests drive Debian's headless Chromium (never a browser download).
testdeps: sysdeps
	@if [ ! -x /usr/bin/chromium ] || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing chromium and chromium-driver (browser tests)"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1 || \
	     (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null)); \
	  else echo "NOTE: install chromium and chromium-driver (apt-get install chromium chromium-driver) for the browser tests."; fi; fi

run: deps sysdeps
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py seed_demo
	@echo "Swarm is serving http://$(HOST):$(PORT)/  (Ctrl-C to stop)"
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) swarm_web.asgi:application

worker: deps sysdeps
	$(VENV)/bin/celery -A swarm_web worker --loglevel=INFO --concurrency=$${CONCURRENCY:-4}

# pytest-xdist workers: most of the suite waits on the servers, workers and sandboxes it starts, so two share the
# machine's cores well. PYTEST_WORKERS=0 runs every test in the one pytest process.
PYTEST_WORKERS ?= 2

test: deps testdeps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The fast tier: pure rules and tiny `db` builders (tests/unit), the import/size and layout rules; no git, no demo,
# no browser. --confcutdir keeps tests/conftest.py (the demo personas) out of it.
test-fast: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest tests/unit tests/test_architecture.py tests/test_layout.py -q --confcutdir=tests/unit $(PYTEST_ARGS)

bench: deps sysdeps
	$(PY) -m benchmarks

# The long fault runs (worker kills, messages across a SIGTERM, input fuzz, Redis restarts and data loss) on real
# Celery, Redis and PostgreSQL; a few minutes. SWARM_SOAK_SCALE=5 makes it five times longer;
# `make soak PHASES=messages` runs one phase.
soak: deps sysdeps
	$(PY) -m benchmarks.soak $(PHASES)

lint: deps
	$(VENV)/bin/ruff check .

fmt: deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
