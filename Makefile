# Clothes in Space: `make demo` installs and serves the shop; `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1:8000

.PHONY: demo install test test-fast lint format clean

install: $(INSTALLED)

# Reinstall only when the declared or locked dependencies change.
$(INSTALLED): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

demo: $(INSTALLED)
	$(PY) manage.py demo_setup
	$(PY) manage.py demo_serve $(HOST)

test: $(INSTALLED)
	$(PY) -m pytest

test-fast: $(INSTALLED)
	$(PY) -m pytest -m "not slow"

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var
