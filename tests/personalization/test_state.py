"""personalization.state: the visitor's state in Redis (or the local-memory cache)."""

import logging
import socket
import statistics
import time

import numpy as np
import pytest
import redis
from django.core.cache import caches
from factories import EMBEDDING_ONLY, redis_cache, version_make
from gensim.models import KeyedVectors

from personalization import serving
from personalization import state as state_store
from personalization.engine.recommender import SessionRecommender
from personalization.models import EmbeddingVersion
from personalization.serving import recommender_active
from personalization.state import (
    PersonalizationUnavailable,
    SessionState,
    session_state_get,
    session_state_reading,
    session_view_add,
)
from personalization.versions import version_activate

HAND = {"a": (2.0, 0.0, 0.0), "b": (0.0, 3.0, 0.0), "c": (0.0, 0.0, 1.0), "d": (1.0, 0.8, 0.0)}


def unit(*values: float) -> np.ndarray:
    vector = np.array(values)
    return vector / np.linalg.norm(vector)


LOCMEM_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "test"}


def cache_use(settings, config: dict) -> None:
    settings.CACHES = {**settings.CACHES, state_store.CACHE_ALIAS: config}
    caches[state_store.CACHE_ALIAS].clear()


@pytest.fixture
def real_redis(settings, redis_url):
    cache_use(settings, redis_cache(redis_url))
    return redis.Redis.from_url(redis_url)


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.redis), "locmem"])
def any_cache(request, settings):
    """Each test twice: on the real Redis and on the local-memory fallback."""
    if request.param == "redis":
        cache_use(settings, redis_cache(request.getfixturevalue("redis_url")))
    else:
        cache_use(settings, LOCMEM_CACHE)
    return request.param


@pytest.fixture
def model(db, models_dir, settings):
    """HAND's version, active; the active version is looked up on every call."""
    settings.CIS_MODEL_CHECK_SECONDS = 0
    version = version_make(models_dir, HAND)
    version_activate(version)
    return version


def stored_key(session_id: str) -> str:
    return caches[state_store.CACHE_ALIAS].make_key(state_store.KEY_PREFIX + session_id)


def test_no_state_before_the_first_view(any_cache, model):
    assert session_state_get("visitor") is None


def test_views_round_trip_through_the_cache(any_cache, model):
    session_view_add("visitor", "a")
    added = session_view_add("visitor", "b")
    read = session_state_get("visitor")
    assert read.skus == added.skus == ("a", "b")
    assert read.version_id == added.version_id == model.pk
    assert read.vector.dtype == np.float32
    assert np.array_equal(read.vector, added.vector)
    assert session_state_get("someone-else") is None


def test_a_read_asked_for_but_never_taken_leaves_no_reply_behind(any_cache, model):
    session_view_add("first", "a")
    session_view_add("second", "b")
    with session_state_reading("first"):
        pass  # e.g. the search failed before the state was wanted
    for _ in range(3):  # whatever connection the pool hands out next
        assert session_state_get("second").skus == ("b",)
    with session_state_reading("first") as state_read:
        assert state_read().skus == ("a",)


def test_the_vector_is_the_recommenders_own_recency_weighted_mean(any_cache, model):
    for sku in ["a", "c", "b", "a"]:
        state = session_view_add("visitor", sku)
    expected = recommender_active().session_vector(["a", "c", "b", "a"])
    assert np.array_equal(state.vector, expected)
    assert np.array_equal(session_state_get("visitor").vector, expected)
    # by hand: a counts once, at its latest view (weight 1); b 0.5; c 0.25 (half-life 1 view)
    assert np.allclose(expected, unit(1, 0.5, 0.25), atol=1e-6)


def test_only_the_last_skus_are_kept_and_weighed(any_cache, model, settings):
    settings.CIS_SESSION_SKUS_MAX = 3
    for sku in ["c", "c", "a", "b", "d"]:
        state = session_view_add("visitor", sku)
    assert state.skus == ("a", "b", "d")
    assert np.array_equal(state.vector, recommender_active().session_vector(["a", "b", "d"]))
    assert state.viewed_recently == ["d", "b", "a"]


def test_unknown_skus_are_kept_and_age_the_views_before_them(any_cache, model):
    session_view_add("visitor", "a")
    state = session_view_add("visitor", "not-in-the-model")
    assert state.skus == ("a", "not-in-the-model")
    assert np.allclose(state.vector, unit(1, 0, 0), atol=1e-6)
    assert session_view_add("other", "not-in-the-model").vector is None


def test_without_an_active_model_the_skus_wait_for_one(any_cache, db, models_dir, settings):
    settings.CIS_MODEL_CHECK_SECONDS = 0
    state = session_view_add("visitor", "a")
    assert state == SessionState(version_id=None, skus=("a",), vector=None)
    version = version_make(models_dir, HAND)
    version_activate(version)
    state = session_state_get("visitor")
    assert state.version_id == version.pk and np.allclose(state.vector, [1, 0, 0])


def test_a_newly_active_version_recomputes_the_vector_from_the_stored_skus(
    any_cache, model, models_dir
):
    session_view_add("visitor", "a")
    session_view_add("visitor", "b")
    newer = version_make(models_dir, {"a": (0.0, 0.0, 0.0, 1.0), "b": (0.0, 1.0, 0.0, 0.0)})
    version_activate(newer)
    state = session_state_get("visitor")
    assert state.version_id == newer.pk and state.skus == ("a", "b")
    assert len(state.vector) == 4  # dimensions follow the model
    assert np.array_equal(state.vector, recommender_active().session_vector(["a", "b"]))
    raw = caches[state_store.CACHE_ALIAS].get(state_store.KEY_PREFIX + "visitor")
    assert state_store._state_decode(raw).version_id == newer.pk  # stored again


@pytest.mark.redis
def test_the_stored_value_is_compact_float32_bytes(real_redis, db, models_dir, settings):
    settings.CIS_MODEL_CHECK_SECONDS = 0
    rng = np.random.default_rng(3)
    skus = [f"SKU-{i:04d}" for i in range(30)]
    version_activate(version_make(models_dir, {sku: tuple(rng.normal(size=64)) for sku in skus}))
    for sku in skus[:20]:
        state = session_view_add("visitor", sku)
    raw = real_redis.get(stored_key("visitor"))
    vector_bytes = state.vector.astype("<f4").tobytes()
    assert len(vector_bytes) == 64 * 4 and vector_bytes in raw
    skus_bytes = len("\t".join(skus[:20]))
    # header + SKUs + float32 vector, and the 18 bytes of pickle's envelope around bytes
    assert len(raw) <= state_store.HEADER.size + skus_bytes + 64 * 4 + 18
    assert real_redis.strlen(stored_key("visitor")) < 64 * 8  # less than float64 alone


@pytest.mark.redis
def test_the_expiry_slides_on_every_read_and_write(real_redis, model, settings):
    settings.CIS_SESSION_VECTOR_TTL = 600
    key = stored_key("visitor")
    session_view_add("visitor", "a")
    assert 590 < real_redis.ttl(key) <= 600
    real_redis.expire(key, 5)
    session_state_get("visitor")
    assert 590 < real_redis.ttl(key) <= 600
    real_redis.expire(key, 5)
    session_view_add("visitor", "b")
    assert 590 < real_redis.ttl(key) <= 600


def test_an_unreadable_value_starts_the_state_afresh(any_cache, model):
    caches[state_store.CACHE_ALIAS].set(state_store.KEY_PREFIX + "visitor", b"\x07junk")
    assert session_state_get("visitor") is None
    assert session_view_add("visitor", "b").skus == ("b",)


def unavailable_within_a_second(action, caplog) -> None:
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="personalization.state"):
        with pytest.raises(PersonalizationUnavailable):
            action()
    assert time.monotonic() - started < 1
    assert any("personalization is unavailable" in r.getMessage() for r in caplog.records)


def test_redis_down_raises_personalization_unavailable_quickly(model, settings, caplog):
    cache_config = redis_cache("redis://127.0.0.1:1/0")  # nothing listens: refused
    settings.CACHES = {**settings.CACHES, state_store.CACHE_ALIAS: cache_config}
    unavailable_within_a_second(lambda: session_view_add("visitor", "a"), caplog)
    unavailable_within_a_second(lambda: session_state_get("visitor"), caplog)


def test_a_redis_that_never_answers_times_out_quickly(model, settings, caplog):
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never replies
    try:
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        settings.CACHES = {**settings.CACHES, state_store.CACHE_ALIAS: redis_cache(url)}
        unavailable_within_a_second(lambda: session_view_add("visitor", "a"), caplog)
        unavailable_within_a_second(lambda: session_state_get("visitor"), caplog)
    finally:
        silent.close()


def test_a_view_does_not_cost_more_with_a_larger_catalog(db, models_dir, settings):
    """Views moved on a model of 100 products and on one of 100,000, interleaved in one run:
    work that grew with the catalog would make the large one several times slower."""
    settings.CIS_MODEL_CHECK_SECONDS = 0  # each activation is noticed at once
    cache_use(settings, LOCMEM_CACHE)
    rng = np.random.default_rng(5)
    models = {}
    for size in (100, 100_000):
        skus = [f"SKU-{i:06d}" for i in range(size)]
        keyed = KeyedVectors(vector_size=64)
        keyed.add_vectors(skus, rng.normal(size=(size, 64)).astype(np.float32))
        SessionRecommender.build(keyed, [], EMBEDDING_ONLY).save(models_dir / f"size-{size}")
        version = EmbeddingVersion.objects.create(
            kind="product", status="succeeded", path=f"size-{size}"
        )
        models[size] = (version, skus)
    timings = {size: [] for size in models}
    for round_ in range(41):
        for size, (version, skus) in models.items():
            version_activate(version)
            serving.model_active()  # its files loaded before the clock starts
            started = time.perf_counter()
            session_view_add(f"visitor-{size}", skus[round_ % 60])
            timings[size].append(time.perf_counter() - started)
    ratio = statistics.median(timings[100_000]) / statistics.median(timings[100])
    assert ratio < 4  # seen: 1.0-1.4; a matrix-vector product over the catalog: about 7
