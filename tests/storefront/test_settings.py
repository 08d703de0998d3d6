"""Settings come from the environment; production refuses to start without its secrets."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LONG_KEY = "k" * 20 + "-production-secret-key-for-tests-only-0123456789"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    unwanted = {"SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL"}
    clean = {k: v for k, v in os.environ.items() if k not in unwanted}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_requires_secret_key():
    result = manage("check", DJANGO_ENV="production", ALLOWED_HOSTS="shop.example.com")
    assert result.returncode != 0
    assert "requires SECRET_KEY" in result.stderr


def test_production_requires_allowed_hosts():
    result = manage("check", DJANGO_ENV="production", SECRET_KEY=LONG_KEY)
    assert result.returncode != 0
    assert "requires ALLOWED_HOSTS" in result.stderr


def test_production_passes_the_deploy_check_with_debug_off(tmp_path):
    result = manage(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings; print(settings.DEBUG)",
        DJANGO_ENV="production",
        SECRET_KEY=LONG_KEY,
        ALLOWED_HOSTS="shop.example.com",
        CIS_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    deploy = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_ENV="production",
        SECRET_KEY=LONG_KEY,
        ALLOWED_HOSTS="shop.example.com",
        CIS_DATA_DIR=str(tmp_path),
    )
    assert deploy.returncode == 0, deploy.stderr + deploy.stdout


def test_database_url_selects_postgresql(tmp_path):
    result = manage(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings; d = settings.DATABASES['default'];"
        "print(d['ENGINE'], d['NAME'], d['HOST'], d['PORT'])",
        DATABASE_URL="postgres://shop@db.example.com:5433/clothes",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "clothes",
        "db.example.com",
        "5433",
    ]


def test_unknown_django_env_is_refused():
    result = manage("check", DJANGO_ENV="staging")
    assert result.returncode != 0
    assert "DJANGO_ENV must be development or production" in result.stderr


def test_https_redirect_is_the_shops_unless_a_proxy_does_it(tmp_path):
    show = "from django.conf import settings; print(settings.SECURE_SSL_REDIRECT)"
    production = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": LONG_KEY,
        "ALLOWED_HOSTS": "shop.example.com",
        "CIS_DATA_DIR": str(tmp_path),
    }
    shop = manage("shell", "-v", "0", "-c", show, **production)
    assert shop.returncode == 0, shop.stderr
    assert shop.stdout.strip() == "True"
    proxy = manage("shell", "-v", "0", "-c", show, **production, CIS_HTTPS_REDIRECT="proxy")
    assert proxy.stdout.strip() == "False"
    # The proxy redirects, which is the advice of the warning silenced; the rest stays checked.
    deploy = manage(
        "check", "--deploy", "--fail-level", "WARNING", **production, CIS_HTTPS_REDIRECT="proxy"
    )
    assert deploy.returncode == 0, deploy.stderr + deploy.stdout
    no_hsts = manage(
        "check", "--deploy", **production, CIS_HTTPS_REDIRECT="proxy", SECURE_HSTS_SECONDS="0"
    )
    assert "security.W004" in no_hsts.stderr + no_hsts.stdout


def test_unknown_https_redirect_is_refused():
    result = manage("check", CIS_HTTPS_REDIRECT="nginx")
    assert result.returncode != 0
    assert "CIS_HTTPS_REDIRECT must be shop or proxy, not 'nginx'" in result.stderr


def test_beat_drains_the_stream_unless_a_drainer_process_does():
    show = "from django.conf import settings; print(sorted(settings.CELERY_BEAT_SCHEDULE))"
    stream = {"REDIS_URL": "redis://127.0.0.1:1/0", "CELERY_BROKER_URL": "redis://127.0.0.1:1/1"}
    beat = manage("shell", "-v", "0", "-c", show, **stream)
    assert beat.returncode == 0, beat.stderr
    assert "'drain-events'" in beat.stdout and "'retrain-embeddings'" in beat.stdout
    drainer = manage("shell", "-v", "0", "-c", show, **stream, CIS_EVENT_DRAIN_BEAT="false")
    assert "'drain-events'" not in drainer.stdout and "'retrain-embeddings'" in drainer.stdout


def test_time_limits_are_checked_at_start_up():
    result = manage("check", CELERY_TASK_SOFT_TIME_LIMIT="4000", CELERY_TASK_TIME_LIMIT="3900")
    assert result.returncode != 0
    assert "CELERY_TASK_SOFT_TIME_LIMIT (4000 s) must be positive and below" in result.stderr
    result = manage("check", CIS_TRAINING_HEARTBEAT_SECONDS="30", CIS_TRAINING_STALE_SECONDS="60")
    assert result.returncode != 0
    assert "at least three heartbeats" in result.stderr
    assert (
        manage("check", CELERY_TASK_SOFT_TIME_LIMIT="600", CELERY_TASK_TIME_LIMIT="700").returncode
        == 0
    )


def test_the_queued_bound_must_be_a_positive_number_of_seconds():
    for value in ("0", "-5", "five minutes", "nan", "inf"):
        result = manage("check", CIS_TRAINING_QUEUED_SECONDS=value)
        assert result.returncode != 0
        assert "CIS_TRAINING_QUEUED_SECONDS must be a positive number" in result.stderr
        assert f"of seconds, not {value!r}" in result.stderr
    assert manage("check", CIS_TRAINING_QUEUED_SECONDS="2.5").returncode == 0


def test_the_training_window_is_a_whole_number_of_days():
    for value in ("a week", "-3", "1.5", "٣"):
        result = manage("check", CIS_TRAINING_WINDOW=value)
        assert result.returncode != 0
        assert "CIS_TRAINING_WINDOW must be a whole number of days" in result.stderr
    assert manage("check", CIS_TRAINING_WINDOW="30").returncode == 0


def test_whole_number_settings_are_checked_against_their_bounds(monkeypatch):
    import pytest
    from django.core.exceptions import ImproperlyConfigured

    from storefront.settings import env_whole

    for value in ("0", "2000", "four", "-1", "1.5", "٣"):
        monkeypatch.setenv("CIS_REDIS_SHARDS", value)
        with pytest.raises(ImproperlyConfigured, match="CIS_REDIS_SHARDS must be a whole num"):
            env_whole("CIS_REDIS_SHARDS", 1, low=1, high=1024)
    monkeypatch.setenv("CIS_REDIS_SHARDS", "64")
    assert env_whole("CIS_REDIS_SHARDS", 1, low=1, high=1024) == 64
    monkeypatch.delenv("CIS_REDIS_SHARDS")
    assert env_whole("CIS_REDIS_SHARDS", 16, low=1, high=1024) == 16


def test_the_shop_refuses_to_start_with_a_redis_setting_out_of_bounds():
    result = manage("check", CIS_REDIS_WAIT_REPLICAS="-1")
    assert result.returncode != 0
    assert "CIS_REDIS_WAIT_REPLICAS must be a whole number, 0 or more, not '-1'" in result.stderr


def test_a_cluster_url_makes_the_caches_cluster_clients_with_sixteen_shards():
    code = (
        "from django.conf import settings as s; "
        "print(s.CIS_REDIS_SHARDS, s.CACHES['personalization']['OPTIONS']['CONNECTION_FACTORY'])"
    )
    result = manage("shell", "-c", code, REDIS_URL="redis-cluster://10.0.0.1:7000,10.0.0.2:7000")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [
        "16",
        "common.redis_cluster.ClusterConnectionFactory",
    ]
