"""Settings for Clothes in Space, read from environment variables.

Every default runs on a fresh machine with no server (SQLite, local-memory cache, eager Celery,
the embedded search engine). `DJANGO_ENV=production` turns the conveniences off.
"""

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if not value:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def env_whole(name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    """A whole number from the environment (`default` when unset), checked to lie in
    [low, high]: anything else stops the start with a message naming the variable."""
    value = env_str(name) or str(default)
    number = int(value) if value.isascii() and value.isdigit() else None
    if number is None or number < low or (high is not None and number > high):
        bounds = f"{low} to {high}" if high is not None else f"{low} or more"
        raise ImproperlyConfigured(f"{name} must be a whole number, {bounds}, not {value!r}")
    return number


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# Mode and secrets: production requires its secrets and hosts from the environment.
DJANGO_ENV = env_str("DJANGO_ENV", "development")
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be development or production, not {DJANGO_ENV!r}")
PRODUCTION = DJANGO_ENV == "production"
if PRODUCTION:
    SECRET_KEY = env_str("SECRET_KEY")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
    if not SECRET_KEY:
        raise ImproperlyConfigured("DJANGO_ENV=production requires SECRET_KEY in the environment")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ENV=production requires ALLOWED_HOSTS (comma-separated)")
    DEBUG = False
else:
    SECRET_KEY = env_str("SECRET_KEY") or "django-insecure-development-only-key-do-not-deploy"
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
    DEBUG = env_bool("DEBUG", True)

# Files: SQLite database, uploaded/generated media and trained models live under one folder.
DATA_DIR = Path(env_str("CIS_DATA_DIR") or BASE_DIR / "var")
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or DATA_DIR / "media")
MEDIA_URL = "/media/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or DATA_DIR / "static")
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves what `manage.py collectstatic` gathered into STATIC_ROOT: names hashed by
# content (cached for ever) and gzip-compressed, by WhiteNoise. Development reads the sources.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Development serves the sources (DEBUG or not, as the benchmarks run); its STATIC_ROOT exists
# only so that WhiteNoise finds the folder it would serve.
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Media (product pictures the sample generates, or a catalog's local images) are served by the
# shop itself unless CIS_SERVE_MEDIA=false, for a web server or a CDN in front to serve /media/.
CIS_SERVE_MEDIA = env_bool("CIS_SERVE_MEDIA", True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "csp",
    "ninja",  # the API's docs page (/api/docs) from its own static files, no CDN
    "catalog",
    "personalization",
    "storefront",
]

MIDDLEWARE = [
    "storefront.errors.ApiErrorMiddleware",  # every error under /api/ in the API's one shape
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # before WhiteNoise: a file it serves has the policy too
    "whitenoise.middleware.WhiteNoiseMiddleware",  # /static/ under any server, DEBUG or not
    "storefront.middleware.RequestTextMiddleware",  # no control character or non-UTF-8 text
    "django.contrib.sessions.middleware.SessionMiddleware",
    "personalization.middleware.VisitorMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Content-Security-Policy (django-csp) on every response: scripts, styles, fonts and requests
# come from the shop only, and no page has an inline script, style or event handler, so markup
# slipped into a product name cannot run (/media/ sends a policy of its own). Pictures may also come
# from any http(s) host, as a catalog's image URLs do. (django-csp leaves Django's own debug
# pages, 404 and 500 with DEBUG on, without the header: they need inline styles and scripts.)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "https:", "http:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "storefront.urls"
CSRF_FAILURE_VIEW = "storefront.errors.csrf_failure"  # the API's error shape under /api/
WSGI_APPLICATION = "storefront.wsgi.application"

# The shop's pages are Jinja2's (jinja2/, storefront/templating.py says why); Django's engine
# renders the admin, the API's docs and the 500 page (templates/). A name is looked up in that
# order.
TEMPLATES = [
    {
        "BACKEND": "storefront.templating.Jinja2",
        "NAME": "jinja2",
        "DIRS": [BASE_DIR / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "storefront.templating.environment",
            "context_processors": [
                "django.contrib.messages.context_processors.messages",
                "storefront.context_processors.shop",
            ],
        },
    },
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "storefront.context_processors.shop",
            ],
        },
    },
]

# Database: SQLite by default; DATABASE_URL=postgres://... for PostgreSQL.
if not env_str("DATABASE_URL"):
    DATA_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the shop read while a load or a training writes; with WAL, synchronous=NORMAL
    # keeps the database consistent through any crash and spares every commit (each recorded
    # view) an fsync: after a power cut, only the last moments of events can be missing.
    # Connections stay open across requests (opening one costs more than a whole simple query).
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    }
    DATABASES["default"]["CONN_MAX_AGE"] = None
# Django's development server (runserver, as `make demo` serves the shop) answers each request in
# a thread of its own, and a thread's persistent connection outlived it: a flood of requests on
# PostgreSQL ran out of connections ("too many clients"). There, each request connects anew.
if sys.argv[1:2] == ["runserver"]:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache and Redis: Django's local-memory cache unless REDIS_URL is set. Socket timeouts are
# short, and every connection goes through a circuit breaker (common/redis_circuit.py): after a
# failure, a process stops asking Redis for CIS_REDIS_RETRY_SECONDS, so a dead or hung Redis
# costs it one timeout per period, not one per request.
REDIS_URL = env_str("REDIS_URL")
CIS_REDIS_RETRY_SECONDS = float(env_str("CIS_REDIS_RETRY_SECONDS") or 5)
_cluster = False
if REDIS_URL:
    # A redis-cluster://host:port[,host:port...] URL makes every client a Redis Cluster's
    # (common/redis_cluster.py), each node with its own circuit.
    from common.redis_cluster import is_cluster_url, redis_cache

    _cluster = is_cluster_url(REDIS_URL)
    CACHES = {
        "default": redis_cache(REDIS_URL, ignore_exceptions=True),
        # The visitors' state (personalization/state.py) uses this alias's connection pool;
        # errors raise here, so a page can say personalization is off instead of pretending.
        "personalization": redis_cache(REDIS_URL),
    }
    # The circuit logs when Redis fails and when it is back: not a traceback per request.
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = False
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"  # staff only: see below
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

# Celery: eager execution (no broker, no worker) unless CELERY_BROKER_URL is set. Every broker
# call is bounded (connect, read, write: Redis and AMQP alike), so a hung broker costs a request
# 2 s and the clear message, not gunicorn's timeout. A training is acknowledged when it ends
# (acks_late), so a worker that dies before starting one leaves it to the next; the Redis
# transport's visibility timeout outlasts the hard time limit, or Redis would hand a training
# still running to a second worker.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://localhost/"  # unused (eager); a host, or kombu warns
CELERY_TASK_SOFT_TIME_LIMIT = int(env_str("CELERY_TASK_SOFT_TIME_LIMIT") or 3600)
CELERY_TASK_TIME_LIMIT = int(env_str("CELERY_TASK_TIME_LIMIT") or 3900)
if not 0 < CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"CELERY_TASK_SOFT_TIME_LIMIT ({CELERY_TASK_SOFT_TIME_LIMIT} s) must be positive and "
        f"below CELERY_TASK_TIME_LIMIT ({CELERY_TASK_TIME_LIMIT} s): the soft limit lets a "
        f"training record its failure before the hard one kills it"
    )
CIS_BROKER_TIMEOUT = float(env_str("CIS_BROKER_TIMEOUT") or 2)
CELERY_BROKER_CONNECTION_TIMEOUT = CIS_BROKER_TIMEOUT
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": CIS_BROKER_TIMEOUT,  # Redis
    "socket_timeout": CIS_BROKER_TIMEOUT,
    "read_timeout": CIS_BROKER_TIMEOUT,  # AMQP
    "write_timeout": CIS_BROKER_TIMEOUT,
    "visibility_timeout": CELERY_TASK_TIME_LIMIT + 600,  # Redis: redeliver only the dead's
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: folders as the broker, for one machine with no broker
    # server (`make demo` runs a worker on it, so Retrain returns at once).
    _broker_dir = DATA_DIR / "broker"
    for _folder in ("queue", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a worker reserves no training it cannot start
# Beat logs a broker it cannot reach once when sending fails and once when it works again,
# not a traceback per task and per retry (storefront/beat.py).
CELERY_BEAT_SCHEDULER = "storefront.beat:QuietBrokerScheduler"
# A training's worker writes a heartbeat on its version every CIS_TRAINING_HEARTBEAT_SECONDS;
# a version silent for CIS_TRAINING_STALE_SECONDS lost its worker and is marked failed by the
# next worker to start or by beat's check every CIS_TRAINING_CHECK_SECONDS.
CIS_TRAINING_HEARTBEAT_SECONDS = float(env_str("CIS_TRAINING_HEARTBEAT_SECONDS") or 10)
CIS_TRAINING_STALE_SECONDS = float(env_str("CIS_TRAINING_STALE_SECONDS") or 60)
CIS_TRAINING_CHECK_SECONDS = float(env_str("CIS_TRAINING_CHECK_SECONDS") or 30)
if CIS_TRAINING_STALE_SECONDS < 3 * CIS_TRAINING_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "CIS_TRAINING_STALE_SECONDS must be at least three heartbeats "
        f"(3 x CIS_TRAINING_HEARTBEAT_SECONDS = {3 * CIS_TRAINING_HEARTBEAT_SECONDS:g} s)"
    )
# A queued version that no worker took within CIS_TRAINING_QUEUED_SECONDS was lost by the
# broker (restarted without its data, say) or waits behind a worker busy too long: the same
# checks mark it failed, so Retrain is free again; its message, if it arrives late, is refused.
_queued_seconds = env_str("CIS_TRAINING_QUEUED_SECONDS") or "300"
try:
    CIS_TRAINING_QUEUED_SECONDS = float(_queued_seconds)
except ValueError:
    CIS_TRAINING_QUEUED_SECONDS = 0.0  # refused below
if not 0 < CIS_TRAINING_QUEUED_SECONDS < float("inf"):  # nor nan
    raise ImproperlyConfigured(
        f"CIS_TRAINING_QUEUED_SECONDS must be a positive number of seconds, not {_queued_seconds!r}"
    )

# Search: which engine answers /search/ (embedded, elasticsearch or coveo), and how to reach it.
SEARCH_BACKEND = env_str("SEARCH_BACKEND") or "embedded"
CIS_SEARCH_INDEX_PATH = Path(env_str("CIS_SEARCH_INDEX_PATH") or DATA_DIR / "search-index")
# Answers the built-in engine keeps per process (0: none), dropped at every commit to the index:
# without them a repeated query's personalized search served half the requests per second.
CIS_SEARCH_CACHE_ENTRIES = int(env_str("CIS_SEARCH_CACHE_ENTRIES") or 256)
# The shop's synonyms, in the Solr/Elasticsearch format (`demo_setup` installs the sample
# shop's): read by the built-in engine as it changes, by Elasticsearch when its index is built.
CIS_SYNONYMS_FILE = Path(env_str("CIS_SYNONYMS_FILE") or DATA_DIR / "synonyms.txt")
# How often Celery beat checks that the search indexes hold the catalog's version, rebuilding
# those behind it (a process killed between a catalog write and its index refresh); a Celery
# worker also checks when it starts. A change gets one period to arrive by its own refresh.
# 0: never (run `index_catalog --check` instead).
CIS_SEARCH_INDEX_CHECK_SECONDS = float(env_str("CIS_SEARCH_INDEX_CHECK_SECONDS") or 60)
# The product vectors search indexes store: a callable named here, so the catalog never imports
# the code that trains them.
CIS_PRODUCT_VECTORS_PROVIDER = "personalization.serving.product_vectors_active"
ELASTICSEARCH_URL = env_str("ELASTICSEARCH_URL")
ELASTICSEARCH_INDEX = env_str("ELASTICSEARCH_INDEX") or "products"
ELASTICSEARCH_TIMEOUT = float(env_str("ELASTICSEARCH_TIMEOUT") or 1.0)
ELASTICSEARCH_RERANK = env_str("ELASTICSEARCH_RERANK") or "client"
COVEO_SEARCH_URL = env_str("COVEO_SEARCH_URL") or "https://platform.cloud.coveo.com"
COVEO_ORGANIZATION_ID = env_str("COVEO_ORGANIZATION_ID")
COVEO_API_KEY = env_str("COVEO_API_KEY")
COVEO_SEARCH_HUB = env_str("COVEO_SEARCH_HUB")
COVEO_PIPELINE = env_str("COVEO_PIPELINE")
COVEO_TIMEOUT = float(env_str("COVEO_TIMEOUT") or 1.0)
COVEO_SKU_FIELD = env_str("COVEO_SKU_FIELD") or "sku"
COVEO_PUSH_URL = env_str("COVEO_PUSH_URL") or "https://api.cloud.coveo.com"
COVEO_PUSH_API_KEY = env_str("COVEO_PUSH_API_KEY")
COVEO_SOURCE_ID = env_str("COVEO_SOURCE_ID")

# Embeddings: where model versions are stored, how they are evaluated and retrained.
# The versions' files: in CIS_MODELS_DIR, or with CIS_MODELS_BUCKET in that bucket of an
# S3-compatible store (at CIS_MODELS_ENDPOINT_URL when not AWS's), each machine keeping its
# copy of the versions it serves in CIS_MODELS_DIR (personalization/model_files.py).
CIS_MODELS_DIR = Path(env_str("CIS_MODELS_DIR") or DATA_DIR / "models")
CIS_MODELS_BUCKET = env_str("CIS_MODELS_BUCKET")
CIS_MODELS_ENDPOINT_URL = env_str("CIS_MODELS_ENDPOINT_URL")
CIS_HOLDOUT_SHARE = float(env_str("CIS_HOLDOUT_SHARE") or 0.1)
# A product training reads the views of the last CIS_TRAINING_WINDOW days (empty or 0: the whole
# log), through the index on the views' time, so its time and memory follow the window, not the
# log's whole history. Imported sessions count from the day they were imported.
_window = env_str("CIS_TRAINING_WINDOW") or "0"
if not (_window.isascii() and _window.isdigit()):
    raise ImproperlyConfigured(
        f"CIS_TRAINING_WINDOW must be a whole number of days (0: the whole log), not {_window!r}"
    )
CIS_TRAINING_WINDOW = int(_window)
CIS_EVAL_K = int(env_str("CIS_EVAL_K") or 20)
CIS_ACTIVATION_TOLERANCE = float(env_str("CIS_ACTIVATION_TOLERANCE") or 0.0)
CIS_RETRAIN_CRON = env_str("CIS_RETRAIN_CRON", "30 3 * * *")  # empty: no scheduled retraining
CELERY_BEAT_SCHEDULE = {
    "fail-stale-trainings": {
        "task": "personalization.tasks.trainings_stale_check",
        "schedule": CIS_TRAINING_CHECK_SECONDS,
        "options": {"expires": CIS_TRAINING_CHECK_SECONDS},
    }
}
if CIS_RETRAIN_CRON:
    from celery.schedules import crontab

    try:
        minute, hour, day_of_month, month_of_year, day_of_week = CIS_RETRAIN_CRON.split()
        _retrain_schedule = crontab(minute, hour, day_of_week, day_of_month, month_of_year)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"CIS_RETRAIN_CRON must be five cron fields (minute hour day month weekday), "
            f"not {CIS_RETRAIN_CRON!r}: {exc}"
        ) from exc
    CELERY_BEAT_SCHEDULE["retrain-embeddings"] = {
        "task": "personalization.tasks.retrain_embeddings_scheduled",
        "schedule": _retrain_schedule,
    }

if CIS_SEARCH_INDEX_CHECK_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["search-index-check"] = {
        "task": "catalog.tasks.search_index_check_scheduled",
        "schedule": CIS_SEARCH_INDEX_CHECK_SECONDS,
        "options": {"expires": CIS_SEARCH_INDEX_CHECK_SECONDS},  # a stopped worker piles none up
    }

# Personalization: the visitors' state, the log of their views, the re-ranking of search.
CIS_MODEL_CHECK_SECONDS = float(env_str("CIS_MODEL_CHECK_SECONDS") or 5)
# A visitor (the cis_visitor cookie, no Django session) is the products they viewed last: in
# Redis with REDIS_URL, else in the database; both outlive a restart. See personalization/state.py.
CIS_VISITOR_STORE = env_str("CIS_VISITOR_STORE") or ("redis" if REDIS_URL else "database")
if CIS_VISITOR_STORE not in {"redis", "database"}:
    raise ImproperlyConfigured(
        f"CIS_VISITOR_STORE must be redis or database, not {CIS_VISITOR_STORE!r}"
    )
if CIS_VISITOR_STORE == "redis" and not REDIS_URL:
    raise ImproperlyConfigured("CIS_VISITOR_STORE=redis requires REDIS_URL")
CIS_VISITOR_VIEWS_MAX = int(env_str("CIS_VISITOR_VIEWS_MAX") or 20)  # products kept per visitor
# Visitors' keys in Redis are split into this many shards, each with its own stream of events
# and a hash tag, so a Redis Cluster holds them (personalization/redis_keys.py): 16 on a
# cluster, 1 on one Redis. Fixed while the shop runs: drain the streams before changing it.
CIS_REDIS_SHARDS = env_whole("CIS_REDIS_SHARDS", 16 if _cluster else 1, low=1, high=1024)
# A view is answered once this many replicas of its master have it (Redis's WAIT, at most
# 100 ms); one they did not confirm is written to the event log by the shop as well, so a
# failover, which promotes a replica, loses no view. Set 1 with replicas; 0: the master's word.
CIS_REDIS_WAIT_REPLICAS = env_whole("CIS_REDIS_WAIT_REPLICAS", 0)
CIS_VISITOR_TTL = int(env_str("CIS_VISITOR_TTL") or 14 * 24 * 3600)  # seconds after the last view
# With Redis and a Celery broker, a view's event goes into a Redis Stream in the round trip that
# moves the state, and a task drains it into the event log every CIS_EVENT_DRAIN_SECONDS
# (personalization/event_stream.py); otherwise each view writes its event to the database.
CIS_EVENT_STREAM = env_bool(
    "CIS_EVENT_STREAM", CIS_VISITOR_STORE == "redis" and not CELERY_TASK_ALWAYS_EAGER
)
if CIS_EVENT_STREAM and CIS_VISITOR_STORE != "redis":
    raise ImproperlyConfigured("CIS_EVENT_STREAM requires the Redis visitor store (REDIS_URL)")
CIS_EVENT_STREAM_MAX = int(env_str("CIS_EVENT_STREAM_MAX") or 1_000_000)  # entries not drained
CIS_EVENT_DRAIN_SECONDS = float(env_str("CIS_EVENT_DRAIN_SECONDS") or 5)
CIS_EVENT_DRAIN_BATCH = int(env_str("CIS_EVENT_DRAIN_BATCH") or 5_000)
# Entries a drainer read but did not acknowledge (it died) are taken over after this long.
CIS_EVENT_CLAIM_SECONDS = float(env_str("CIS_EVENT_CLAIM_SECONDS") or 60)
# On PostgreSQL the event log is partitioned by month (personalization/partitions.py): beat
# creates this month's partition and the next CIS_EVENT_PARTITIONS_AHEAD months' every day.
CIS_EVENT_PARTITIONS_AHEAD = int(env_str("CIS_EVENT_PARTITIONS_AHEAD") or 2)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    CELERY_BEAT_SCHEDULE["event-partitions-ahead"] = {
        "task": "personalization.tasks.event_partitions_ahead_scheduled",
        "schedule": 24 * 3600,
    }
if CIS_VISITOR_STORE == "database":
    CELERY_BEAT_SCHEDULE["expire-visitor-states"] = {
        "task": "personalization.tasks.visitor_states_expire",
        "schedule": 24 * 3600,
    }
# Beat drains the stream through the worker, unless a `drain_events --follow` process does
# (docker-compose.yml and the Procfile run one, so a training never holds a drain up).
CIS_EVENT_DRAIN_BEAT = env_bool("CIS_EVENT_DRAIN_BEAT", True)
if CIS_EVENT_STREAM and CIS_EVENT_DRAIN_BEAT:
    CELERY_BEAT_SCHEDULE["drain-events"] = {
        "task": "personalization.tasks.events_drain_scheduled",
        "schedule": CIS_EVENT_DRAIN_SECONDS,
        "options": {"expires": CIS_EVENT_DRAIN_SECONDS},  # a stopped worker piles none up
    }
# Flood limits on recorded views (personalization/view_limits.py): a visitor, and a client
# address, may record this many a minute (0: no limit); past that a view is shown but not
# recorded and POST /api/events/ answers 429. The address is REMOTE_ADDR, or the last one in
# CIS_CLIENT_ADDRESS_HEADER (e.g. X-Forwarded-For) when a proxy in front sets that header.
CIS_VIEWS_PER_MINUTE_VISITOR = int(env_str("CIS_VIEWS_PER_MINUTE_VISITOR") or 120)
CIS_VIEWS_PER_MINUTE_ADDRESS = int(env_str("CIS_VIEWS_PER_MINUTE_ADDRESS") or 1200)
CIS_CLIENT_ADDRESS_HEADER = env_str("CIS_CLIENT_ADDRESS_HEADER")
# The engine's top results re-ranked: enough to hold every kind of product a broad query
# matches, as templated names tie in BM25 (docs/tuning.md, "Search re-ranking").
CIS_RERANK_WINDOW = int(env_str("CIS_RERANK_WINDOW") or 200)
# How far similarity can move a result, in units of the best match's text score (see
# personalization/engine/reranking.py); chosen on the judged cases (docs/tuning.md).
CIS_RERANK_WEIGHT = float(env_str("CIS_RERANK_WEIGHT") or 0.3)

# The shop's own knobs.
CIS_PAGE_SIZE = int(env_str("CIS_PAGE_SIZE") or 24)
# One-click personas of the demo, of several audiences: who they are, a line on what they
# browse, the searches whose first results browsing as them views, and the query that shows it.
# Only those the catalog can play are offered (storefront/shop/visitors.py).
CIS_PERSONAS = [
    {
        "slug": "sam", "name": "Sam", "who": "a men's trail runner",
        "line": "Trail shoes, a running vest and a running jacket.", "query": "shoes",
        "searches": ["men's trail running shoes", "trail running vest", "men's running jacket"],
    },
    {
        "slug": "maya", "name": "Maya", "who": "a women's road runner",
        "line": "Running shorts, tights and a light jacket.", "query": "shoes",
        "searches": ["women's running shorts", "women's running tights", "women's running jacket"],
    },
    {
        "slug": "leo", "name": "Leo", "who": "a kids' skier",
        "line": "Ski pants, ski boots and a warm beanie, in kids' sizes.", "query": "jacket",
        "searches": ["kids' ski pants", "kids' ski boots", "kids' beanie"],
    },
    {
        "slug": "priya", "name": "Priya", "who": "a women's yogi",
        "line": "Yoga pants, a mat and a sports bra.", "query": "pants",
        "searches": ["yoga pants", "yoga mat", "sports bra"],
    },
]  # fmt: skip

# Experiments (personalization.experiments): the plain order against the personalized one, online.
# A share of visitors, drawn by a hash of their id and CIS_EXPERIMENT_NAME (a new name draws
# again), sees one list interleaving both orders (team draft); another share is split A/B, half
# plain, half personalized. Production runs neither unless set; the demo interleaves for a fifth.
# A click counts for an impression shown in the last CIS_IMPRESSION_TTL seconds.
CIS_EXPERIMENT_NAME = env_str("CIS_EXPERIMENT_NAME") or "plain-vs-personalized"
CIS_INTERLEAVING_SHARE = float(env_str("CIS_INTERLEAVING_SHARE") or (0 if PRODUCTION else 0.2))
CIS_AB_SHARE = float(env_str("CIS_AB_SHARE") or 0)
if not (0 <= CIS_INTERLEAVING_SHARE <= 1 and 0 <= CIS_AB_SHARE <= 1) or (
    CIS_INTERLEAVING_SHARE + CIS_AB_SHARE > 1
):
    raise ImproperlyConfigured(
        "CIS_INTERLEAVING_SHARE and CIS_AB_SHARE must be shares of visitors (0 to 1) that add up "
        f"to at most 1, not {CIS_INTERLEAVING_SHARE} and {CIS_AB_SHARE}"
    )
CIS_IMPRESSION_TTL = int(env_str("CIS_IMPRESSION_TTL") or 3600)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Production hardening (what `manage.py check --deploy` asks for). gunicorn speaks plain http:
# TLS ends at a proxy in front, which says so in X-Forwarded-Proto. CIS_HTTPS_REDIRECT says who
# sends plain-http visitors to https: the shop (`shop`), or that proxy (`proxy`), in which case
# the shop does not redirect and the deploy check's W008 (whose advice is exactly such a proxy)
# is silenced. docker-compose.yml and `make serve` say `proxy`: in a deployment the proxy sits in
# front of them; on one's own machine, http://localhost is a secure origin to browsers, so the
# Secure cookies below still work there.
CIS_HTTPS_REDIRECT = env_str("CIS_HTTPS_REDIRECT") or "shop"
if CIS_HTTPS_REDIRECT not in {"shop", "proxy"}:
    raise ImproperlyConfigured(
        f"CIS_HTTPS_REDIRECT must be shop or proxy, not {CIS_HTTPS_REDIRECT!r}"
    )
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = CIS_HTTPS_REDIRECT == "shop"
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(env_str("SECURE_HSTS_SECONDS") or 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    # Preloading is a commitment for every subdomain, so it is opt-in and not a deploy warning.
    SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
    if CIS_HTTPS_REDIRECT == "proxy":
        SILENCED_SYSTEM_CHECKS.append("security.W008")
    SECURE_CONTENT_TYPE_NOSNIFF = True

# Logging: one line a record. A request refused as suspicious (bad Host, a path out of the
# media folder, a body too large) is one WARNING line, not an ERROR with a traceback
# (common/log_refusals.py).
from common.log_refusals import REFUSAL_LOGGERS  # noqa: E402

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"refusal_as_warning": {"()": "common.log_refusals.RefusalAsWarning"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "gensim": {"level": "WARNING"},  # one line per epoch and per vocabulary step otherwise
        "elastic_transport": {"level": "WARNING"},  # one line per request otherwise
        **{name: {"filters": ["refusal_as_warning"]} for name in REFUSAL_LOGGERS},
    },
}
