"""Shared fixtures: files to import, a catalog, and the real local Redis."""

import os
from pathlib import Path

import pytest
import redis

from catalog.models import Product

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


def services_required() -> bool:
    """Under CI (.ci/run sets this) a missing local server fails the test instead of skipping."""
    return bool(os.environ.get("CIS_REQUIRE_SERVICES"))


def unavailable(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (CIS_REQUIRE_SERVICES is set: this test must run)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def isolated_media(settings, tmp_path):
    """Each test writes media under its own folder and starts with an empty cache."""
    from django.core.cache import cache

    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()


@pytest.fixture
def write_file(tmp_path):
    """Write text (or bytes) to a file under tmp_path and return its path."""

    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
def products(db):
    """A small catalog: running and hiking products for men and women."""
    rows = [
        ("RUN-1", "Women's Lightweight Running Shoe, Coral", "women", "running shoes"),
        ("RUN-2", "Men's Cushioned Running Shoe, Black", "men", "running shoes"),
        ("RUN-3", "Women's Running Shorts, Navy", "women", "running shorts"),
        ("HIK-1", "Men's Waterproof Hiking Boot, Olive", "men", "hiking boots"),
        ("HIK-2", "Women's Fleece Jacket, Plum", "women", "fleece"),
        ("LIF-1", "Men's Leather Sneaker, White", "men", "sneakers"),
    ]
    return [
        Product.objects.create(
            sku=sku, name=name, target=target, image="", extra={"category": category}
        )
        for sku, name, target, category in rows
    ]


@pytest.fixture
def redis_url():
    """The real local Redis (a test database, emptied before and after)."""
    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis is not reachable at {REDIS_TEST_URL}: {exc}")
    client.flushdb()
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()
