# Clothes in Space: `make demo` installs and serves the shop; `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1:8000

.PHONY: demo serve install test test-fast lint format clean screenshot notebook notebook-outputs

install: $(INSTALLED)

# Reinstall only when the declared or locked dependencies change.
$(INSTALLED): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev,notebook]'
	touch $@

demo: $(INSTALLED)
	$(PY) manage.py demo_setup
	$(PY) manage.py demo_serve $(HOST)

# The README's picture (docs/img/), from the sample shop's real pages in Chromium.
screenshot: $(INSTALLED)
	$(PY) scripts/readme_screenshot.py

# The notebook (notebooks/clothes_in_space.ipynb) in JupyterLab; `make notebook-outputs` runs
# it top to bottom and stores its outputs, as the suite checks they are (tests/notebooks/).
# As root (in a container), JupyterLab starts only when told --allow-root.
notebook: $(INSTALLED)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/clothes_in_space.ipynb

notebook-outputs: $(INSTALLED)
	$(PY) scripts/notebook_run.py

# `make serve`: the Procfile's processes (gunicorn, a Celery worker, beat, the stream's drainer,
# and a Redis of the shop's own) with production settings, over plain http: for this machine
# only (see the README, "Running for real"). Each variable below can be overridden from the
# environment; the secret key is made once and kept beside the data. No .env is read: that one
# is compose's. The Redis keeps its data (append-only file) in var/redis, on SERVE_REDIS_PORT;
# with REDIS_URL set, the processes use that Redis instead and none is started.
SERVE_KEY = $(or $(CIS_DATA_DIR),var)/secret-key
SERVE_REDIS_PORT ?= 6380
SERVE_OWN_REDIS := $(if $(filter environment command line,$(origin REDIS_URL)),,yes)
SERVE_REDIS = redis://127.0.0.1:$(if $(SERVE_OWN_REDIS),$(SERVE_REDIS_PORT),6379)
serve: export DJANGO_ENV := production
serve: export CIS_HTTPS_REDIRECT := proxy
serve: export CIS_EVENT_DRAIN_BEAT := false
serve: export PYTHONUNBUFFERED := 1
serve: export SECRET_KEY ?= $(file < $(SERVE_KEY))
serve: export ALLOWED_HOSTS ?= localhost,127.0.0.1,[::1]
serve: export REDIS_URL ?= $(SERVE_REDIS)/0
serve: export CELERY_BROKER_URL ?= $(SERVE_REDIS)/1
serve: export SERVE_REDIS_PORT := $(SERVE_REDIS_PORT)
serve: export WEB_BIND ?= $(HOST)
serve: $(INSTALLED) $(SERVE_KEY)
	$(PY) manage.py demo_setup
	$(PY) manage.py collectstatic --noinput --verbosity 0
	mkdir -p $(or $(CIS_DATA_DIR),var)/redis
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start --no-colour --env /dev/null \
		$(if $(SERVE_OWN_REDIS),,web worker beat drainer)

$(SERVE_KEY):
	mkdir -p $(dir $@)
	umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

test: $(INSTALLED)
	$(PY) -m pytest -n auto

test-fast: $(INSTALLED)
	$(PY) -m pytest -n auto -m "not slow"

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var
