# eventsite: `make run` serves the app with demo data; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app eventsite
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
export EVENTSITE_MAIL_URL ?= dev://
export EVENTSITE_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: run test install browser db clean help bench
.DEFAULT_GOAL := help

help:
	@echo "make run    set everything up and serve http://$(HOST):$(PORT) with demo data"
	@echo "make test   set everything up and run every test (on SQLite and on PostgreSQL)"
	@echo "make bench  the benchmarks against gunicorn and PostgreSQL; writes bench/RESULTS.md"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing eventsite and its dependencies into $(VENV) (log: $(VENV)/install.log)..."
	@{ $(PY) -m pip install --upgrade pip && $(PY) -m pip install -e '.[test]'; } > $(VENV)/install.log 2>&1 \
	  || { tail -n 40 $(VENV)/install.log; echo "pip install failed; see $(VENV)/install.log" >&2; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

db: $(STAMP)
	$(FLASK) db upgrade
	$(FLASK) seed-demo

# The web server and the worker side by side; Ctrl-C stops both.
run: db
	@echo "Serving eventsite at http://$(HOST):$(PORT)  (dev mailbox: http://$(HOST):$(PORT)/dev/mailbox)"
	@trap 'kill 0' EXIT INT TERM; \
	  $(FLASK) worker & \
	  $(FLASK) run --host $(HOST) --port $(PORT)

# Debian's Chromium for the browser tests; installed when missing and we are root.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "Could not install chromium: browser tests will be reported as not run."; \
	else echo "No /usr/bin/chromium and not root: browser tests will be reported as not run."; fi

# Both databases side by side (tests/run_passes.sh); EVENTSITE_TEST_SERIAL=1 for one after the other.
test: $(STAMP) browser
	@bash tests/run_passes.sh $(PY) $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# The benchmarks (not part of `make test`; see bench/README.md): PostgreSQL on 127.0.0.1, gunicorn,
# a separate load generator; writes bench/RESULTS.md. `make bench BENCH_ARGS="registration_rush --runs 5"`.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	@{ $(PY) -m pip install -e '.[test,bench]'; } > $(VENV)/install-bench.log 2>&1 \
	  || { tail -n 40 $(VENV)/install-bench.log; echo "pip install failed; see $(VENV)/install-bench.log" >&2; exit 1; }
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) -m bench $(BENCH_ARGS)
