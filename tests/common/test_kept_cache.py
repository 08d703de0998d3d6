"""A value every page reads: shared through Django's cache, kept by the process as long."""

import pytest
from django.core.cache import cache

from common import kept_cache
from common.kept_cache import cache_get_or_set_kept, kept_forget


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(kept_cache.time, "monotonic", lambda: now[0])
    kept_forget()
    cache.delete("test:kept")
    yield now
    kept_forget()
    cache.delete("test:kept")


def test_a_kept_value_is_not_asked_of_the_cache_again_for_its_timeout(clock, monkeypatch):
    made = []
    assert cache_get_or_set_kept("test:kept", lambda: made.append(1) or "one", timeout=60) == "one"
    asked = []
    monkeypatch.setattr(kept_cache.cache, "get_or_set", lambda *a, **k: asked.append(a) or "x")
    clock[0] += 59
    assert cache_get_or_set_kept("test:kept", lambda: "two", timeout=60) == "one"
    assert asked == [] and made == [1]
    clock[0] += 2  # past its time: the cache is asked again
    assert cache_get_or_set_kept("test:kept", lambda: "two", timeout=60) == "x"
    assert len(asked) == 1


def test_the_shared_value_is_taken_before_computing_and_forgetting_asks_again(clock):
    cache.set("test:kept", "shared", 60)  # another process worked it out
    assert cache_get_or_set_kept("test:kept", lambda: "mine", timeout=60) == "shared"
    cache.set("test:kept", "changed", 60)
    assert cache_get_or_set_kept("test:kept", lambda: "mine", timeout=60) == "shared"
    kept_forget()
    assert cache_get_or_set_kept("test:kept", lambda: "mine", timeout=60) == "changed"
