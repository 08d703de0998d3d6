# Clothes in Space: `make demo` installs and serves the shop; `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
SAMPLE := var/sample
DEMO_LOADED := var/.demo-loaded
HOST ?= 127.0.0.1:8000

.PHONY: demo install test test-fast lint format sample clean

install: $(INSTALLED)

# Reinstall only when the declared or locked dependencies change.
$(INSTALLED): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

$(SAMPLE)/catalog.csv: $(INSTALLED)
	$(PY) manage.py generate_sample_data $(SAMPLE)

sample: $(SAMPLE)/catalog.csv

# Migrations are cheap to re-check; the sample data is loaded once (remove var/ to start over).
$(DEMO_LOADED): $(SAMPLE)/catalog.csv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_catalog $(SAMPLE)/catalog.csv
	$(PY) manage.py load_sessions $(SAMPLE)/sessions.txt --source sample
	touch $@

demo: $(INSTALLED) $(DEMO_LOADED)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py runserver $(HOST)

test: $(INSTALLED)
	$(PY) -m pytest

test-fast: $(INSTALLED)
	$(PY) -m pytest -m "not slow"

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var
