"""personalization.state: the visitor's state, in Redis or in the database, and what is computed
from it."""

import statistics
import time

import numpy as np
import pytest
import redis
from django.utils import timezone
from factories import EMBEDDING_ONLY, redis_store_use, version_make
from gensim.models import KeyedVectors

from personalization import serving
from personalization.engine.learning import recommender_build
from personalization.engine.persistence import recommender_save
from personalization.models import EmbeddingVersion, ViewEvent, VisitorViews
from personalization.redis_keys import stream_keys, visitor_key
from personalization.state import (
    TASTE_HALF_LIFE,
    Visitor,
    VisitorState,
    VisitorStateUnavailable,
    view_add,
    view_add_send,
    views_weights,
    visitor_state,
    visitor_state_reading,
    visitor_states_expired_delete,
    visitor_store,
    visitor_store_reset,
)
from personalization.versions import version_activate

HAND = {"a": (2.0, 0.0, 0.0), "b": (0.0, 3.0, 0.0), "c": (0.0, 0.0, 1.0), "d": (1.0, 0.8, 0.0)}


def unit(*values: float) -> np.ndarray:
    vector = np.array(values)
    return vector / np.linalg.norm(vector)


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.redis), "database"])
def any_store(request, settings, db):
    """Each test twice: on the real Redis and on the database store."""
    if request.param == "redis":
        redis_store_use(settings, request.getfixturevalue("redis_url"))
    else:
        settings.CIS_VISITOR_STORE = "database"
    return request.param


@pytest.fixture
def real_redis(settings, redis_url):
    redis_store_use(settings, redis_url)
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def model(db, models_dir, settings):
    """HAND's version, active; the active version is looked up on every call."""
    settings.CIS_MODEL_CHECK_SECONDS = 0
    version = version_make(models_dir, HAND)
    version_activate(version)
    return version


def viewed(visitor: Visitor, *skus: str):
    for sku in skus:
        recorded = view_add(visitor, sku, viewed_at=timezone.now())
    return recorded.state


def test_a_new_visitor_is_identified_by_their_first_view(any_store, model):
    visitor = Visitor()
    assert visitor.id is None and visitor_state(visitor).skus == ()
    viewed(visitor, "a")
    assert visitor.token and visitor.cookie_due and len(visitor.id) == 32
    assert visitor_state(Visitor(visitor.token)).skus == ("a",)  # the next request's visitor
    assert visitor_state(Visitor()).skus == ()


def test_views_round_trip_through_the_store(any_store, model):
    visitor = Visitor()
    added = viewed(visitor, "a", "b")
    assert added.skus == visitor_state(visitor).skus == ("a", "b")
    other = Visitor()
    other.identify()
    assert visitor_state(other).skus == ()


def test_a_read_asked_for_but_never_taken_leaves_no_reply_behind(any_store, model):
    first, second = Visitor(), Visitor()
    viewed(first, "a")
    viewed(second, "b")
    with visitor_state_reading(first):
        pass  # e.g. the search failed before the state was wanted
    for _ in range(3):  # whatever connection the pool hands out next
        assert visitor_state(second).skus == ("b",)
    with visitor_state_reading(first) as state_read:
        assert state_read().skus == ("a",)


def test_the_vector_is_the_mean_weighted_by_the_views_weights(any_store, model):
    # The behaviour changed: the taste's half-life (TASTE_HALF_LIFE views), not the
    # recommender's (1 view), so that the taste panel and search read one weighting.
    visitor = Visitor()
    state = viewed(visitor, "a", "c", "b", "a")
    active = serving.model_active()
    weights = views_weights(["a", "c", "b", "a"])
    # a counts once, at its latest view; each view back weighs 2 ** (-1 / TASTE_HALF_LIFE) less
    step = 2 ** (-1 / TASTE_HALF_LIFE)
    assert weights == pytest.approx({"a": 1.0, "b": step, "c": step**2})
    expected = unit(weights["a"], weights["b"], weights["c"])
    assert np.allclose(state.vector(active), expected, atol=1e-6)
    assert np.array_equal(visitor_state(visitor).vector(active), state.vector(active))


def test_only_the_last_views_are_kept_and_weighed(any_store, model, settings):
    settings.CIS_VISITOR_VIEWS_MAX = 3
    visitor = Visitor()
    state = viewed(visitor, "c", "c", "a", "b", "d")
    assert state.skus == visitor_state(visitor).skus == ("a", "b", "d")
    active = serving.model_active()
    assert np.array_equal(state.vector(active), VisitorState(("a", "b", "d")).vector(active))
    assert state.viewed_recently == ["d", "b", "a"]


def test_unknown_skus_are_kept_and_age_the_views_before_them(any_store, model):
    state = viewed(Visitor(), "a", "not-in-the-model")
    assert state.skus == ("a", "not-in-the-model")
    assert np.allclose(state.vector(serving.model_active()), unit(1, 0, 0), atol=1e-6)
    assert viewed(Visitor(), "not-in-the-model").vector(serving.model_active()) is None


def test_without_an_active_model_the_views_wait_for_one(any_store, db, models_dir, settings):
    settings.CIS_MODEL_CHECK_SECONDS = 0
    visitor = Visitor()
    assert viewed(visitor, "a").vector(serving.model_active()) is None
    version_activate(version_make(models_dir, HAND))
    assert np.allclose(visitor_state(visitor).vector(serving.model_active()), [1, 0, 0])


def test_the_database_store_logs_the_view_with_the_state(settings, model):
    settings.CIS_VISITOR_STORE = "database"
    visitor = Visitor()
    viewed(visitor, "a", "b")
    assert list(ViewEvent.objects.order_by("id").values_list("session_id", "sku")) == [
        (visitor.id, "a"),
        (visitor.id, "b"),
    ]
    assert VisitorViews.objects.get().skus == "a\tb"


def test_the_database_state_outlives_the_process_and_expires(settings, model):
    settings.CIS_VISITOR_STORE = "database"
    settings.CIS_VISITOR_TTL = 600
    visitor = Visitor()
    viewed(visitor, "a", "b")
    visitor_store_reset()  # what a restart forgets: the store, every vector kept
    assert visitor_state(Visitor(visitor.token)).skus == ("a", "b")
    VisitorViews.objects.update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert visitor_state(visitor).skus == ()  # gone stale: not read
    assert visitor_states_expired_delete() == 1 and not VisitorViews.objects.exists()
    assert viewed(visitor, "c").skus == ("c",)  # starts afresh


@pytest.mark.redis
def test_a_view_is_one_round_trip_to_redis_and_a_read_one_more(
    real_redis, model, settings, monkeypatch
):
    """Round trips counted where the client writes to its socket, commands by Redis itself."""
    from factories import FakeClock

    from common.redis_circuit import CircuitBreakerConnection
    from personalization import view_limits

    monkeypatch.setattr(view_limits, "clock", FakeClock(start=6000.0))  # one limit window
    settings.CIS_VISITOR_TTL = 600
    visitor = Visitor(address="192.0.2.7")
    viewed(visitor, "a")  # the pool's connection is made
    sends = []
    send = CircuitBreakerConnection.send_packed_command

    def counted(self, command, check_health=True):
        sends.append(command)
        return send(self, command, check_health=check_health)

    monkeypatch.setattr(CircuitBreakerConnection, "send_packed_command", counted)
    calls_before = _commandstats(real_redis)
    viewed(visitor, "b")
    assert len(sends) == 1
    state = visitor_state(visitor)
    assert len(sends) == 2
    commands = {
        name: count - calls_before.get(name, 0)
        for name, count in _commandstats(real_redis).items()
        if count != calls_before.get(name, 0) and name != "info"
    }
    assert state.skus == ("a", "b")
    # One script for the view (its commands counted by Redis too: the flood limits' counters
    # of the visitor and the address, read and counted), one LRANGE for the read.
    assert commands == {
        "evalsha": 1, "get": 2, "incr": 2, "rpush": 1, "ltrim": 1, "expire": 1, "lrange": 2
    }  # fmt: skip
    key = visitor_key(visitor.id)
    assert real_redis.lrange(key, 0, -1) == [b"a", b"b"]
    assert 590 < real_redis.ttl(key) <= 600


def _commandstats(client) -> dict[str, int]:
    return {
        name.removeprefix("cmdstat_"): stats["calls"]
        for name, stats in client.info("commandstats").items()
    }


@pytest.mark.redis
def test_with_the_stream_the_event_goes_to_redis_in_the_same_round_trip(
    real_redis, model, settings, redis_url
):
    redis_store_use(settings, redis_url, stream=True)
    visitor = Visitor()
    recorded = view_add(visitor, "a", viewed_at=timezone.now(), event_id="e" * 32)
    assert recorded.logged and recorded.state.skus == ("a",)
    entries = real_redis.xrange(stream_keys()[0])
    expected = {b"visitor": visitor.id.encode(), b"sku": b"a", b"id": b"e" * 32}
    assert [fields for _, fields in entries] == [expected]
    assert not ViewEvent.objects.exists()  # the drainer writes it


@pytest.mark.redis
def test_forgetting_clears_the_state_and_changes_the_token(any_store, model):
    visitor = Visitor()
    viewed(visitor, "a", "b")
    old_token, old_id = visitor.token, visitor.id
    visitor.forget()
    assert visitor.token != old_token and visitor.cookie_due
    assert visitor_state(visitor).skus == ()
    assert visitor_state(Visitor(old_token)).skus == ()
    assert ViewEvent.objects.filter(session_id=old_id).count() in (0, 2)  # the log is kept


def test_a_store_that_fails_raises_visitor_state_unavailable(settings, model):
    redis_store_use(settings, "redis://127.0.0.1:1/0")
    with pytest.raises(VisitorStateUnavailable):
        view_add(Visitor(), "a", viewed_at=timezone.now())
    visitor = Visitor()
    visitor.identify()
    assert visitor_state(visitor).notices  # read: empty, with a notice


def test_the_store_is_chosen_once(settings, db):
    settings.CIS_VISITOR_STORE = "database"
    assert visitor_store() is visitor_store()
    assert type(visitor_store()).__name__ == "DatabaseVisitorStore"


def test_a_view_does_not_cost_more_with_a_larger_catalog(db, models_dir, settings):
    """Views and vectors on a model of 100 products and on one of 100,000, interleaved in one
    run: work that grew with the catalog would make the large one several times slower."""
    settings.CIS_MODEL_CHECK_SECONDS = 0  # each activation is noticed at once
    settings.CIS_VISITOR_STORE = "database"
    rng = np.random.default_rng(5)
    models = {}
    for size in (100, 100_000):
        skus = [f"SKU-{i:06d}" for i in range(size)]
        keyed = KeyedVectors(vector_size=64)
        keyed.add_vectors(skus, rng.normal(size=(size, 64)).astype(np.float32))
        recommender = recommender_build(keyed, [], EMBEDDING_ONLY)
        recommender_save(recommender, models_dir / f"size-{size}")
        version = EmbeddingVersion.objects.create(
            kind="product", status="succeeded", path=f"size-{size}"
        )
        models[size] = (version, skus, Visitor())
    timings = {size: [] for size in models}
    for round_ in range(41):
        for size, (version, skus, visitor) in models.items():
            version_activate(version)
            active = serving.model_active()  # its files loaded before the clock starts
            started = time.perf_counter()
            viewed(visitor, skus[round_ % 60]).vector(active)
            timings[size].append(time.perf_counter() - started)
    ratio = statistics.median(timings[100_000]) / statistics.median(timings[100])
    assert ratio < 4  # a matrix-vector product over the catalog: several times more


def test_a_view_sent_is_answered_after_other_reads_of_the_store(any_store, model):
    """A product page sends its view, reads its catalog part, then reads the view's answer."""
    visitor, other = Visitor(), Visitor()
    viewed(visitor, "a")
    viewed(other, "c")
    sent = view_add_send(visitor, "b", viewed_at=timezone.now())
    try:
        assert visitor_state(other).skus == ("c",)  # the store asked meanwhile
        assert sent.recorded().state.skus == ("a", "b")
    finally:
        sent.close()
    assert visitor_state(visitor).skus == ("a", "b")


def test_a_view_sent_and_closed_unanswered_is_recorded_and_leaves_nothing_behind(any_store, model):
    visitor = Visitor()
    viewed(visitor, "a")
    view_add_send(visitor, "b", viewed_at=timezone.now()).close()
    assert visitor_state(visitor).skus == ("a", "b")  # the next reply read is this one's own
    assert viewed(visitor, "c").skus == ("a", "b", "c")


@pytest.mark.redis
def test_a_view_is_recorded_after_redis_forgot_its_script(real_redis, model, settings, redis_url):
    """A Redis restarted since the script was loaded answers NOSCRIPT: run again, loaded."""
    redis_store_use(settings, redis_url, stream=True)
    visitor = Visitor()
    viewed(visitor, "a")
    real_redis.script_flush()
    recorded = view_add(visitor, "b", viewed_at=timezone.now(), event_id="e" * 32)
    assert recorded.logged and recorded.state.skus == ("a", "b")
    assert real_redis.lrange(visitor_key(visitor.id), 0, -1) == [b"a", b"b"]  # once, not twice
    last = real_redis.xrange(stream_keys()[0])[-1][1]
    assert last[b"sku"] == b"b" and last[b"id"] == b"e" * 32
    assert len(real_redis.xrange(stream_keys()[0])) == 2


@pytest.mark.redis
def test_a_key_of_another_type_is_unavailable_for_that_visitor_only(real_redis, model, caplog):
    """An error reply is an answer: it neither leaves a reply behind nor opens the circuit."""
    import logging

    caplog.set_level(logging.WARNING)
    broken, fine = Visitor(), Visitor()
    broken.identify()
    viewed(fine, "a")
    real_redis.set(visitor_key(broken.id), "not a list")
    assert visitor_state(broken).notices
    assert visitor_state(fine).skus == ("a",)  # same process, same pool: Redis still asked
    assert not [r for r in caplog.records if r.name == "common.redis_circuit"]
