"""A value every page reads: shared through Django's cache, kept by the process as long."""

import pytest
from django.core.cache import cache

from common import kept_cache
from common.kept_cache import cache_get_or_set_kept, kept_forget, kept_when_true


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


def test_a_true_answer_is_kept_and_a_false_one_asked_again(monkeypatch):
    kept_forget()
    clock = [100.0]
    monkeypatch.setattr(kept_cache.time, "monotonic", lambda: clock[0])
    answers, asked = {"a": True, "b": False}, []

    def check(key):
        asked.append(key)
        return answers[key]

    assert kept_when_true("a", lambda: check("a"), kept_for=60)
    assert not kept_when_true("b", lambda: check("b"), kept_for=60)
    answers.update(a=False, b=True)
    assert kept_when_true("a", lambda: check("a"), kept_for=60)  # kept: not asked
    assert kept_when_true("b", lambda: check("b"), kept_for=60)  # a no is never kept
    assert asked == ["a", "b", "b"]
    clock[0] += 61
    assert not kept_when_true("a", lambda: check("a"), kept_for=60)  # asked again once stale
    kept_forget()
    assert kept_when_true("b", lambda: check("b"), kept_for=60)
    assert asked == ["a", "b", "b", "a", "b"]


def test_kept_answers_are_bounded_least_recently_asked_first(monkeypatch):
    kept_forget()
    monkeypatch.setattr(kept_cache, "CONFIRMED_MAX", 2)
    asked = []

    def check(key):
        asked.append(key)
        return True

    for key in ["a", "b", "a", "c"]:  # "b" is the least recently asked when "c" comes
        kept_when_true(key, lambda key=key: check(key), kept_for=60)
    kept_when_true("a", lambda: check("a"), kept_for=60)
    kept_when_true("b", lambda: check("b"), kept_for=60)
    assert asked == ["a", "b", "c", "b"]
    kept_forget()
