"""storefront.shop: what the pages and the API ask of personalization, for a new visitor, a
visitor with history, without a model, and with Redis down."""

import logging
import socket
import threading
from urllib.parse import urlsplit

import numpy as np
import pytest
from factories import PLAIN_SHOES, REDIS_DOWN_URL, SHOP_VECTORS, redis_store_use, version_make

from catalog.search import catalog_searcher
from personalization.engine.reranking import results_rerank
from personalization.events import product_view_track
from personalization.models import ViewEvent
from personalization.serving import model_active
from personalization.state import UNAVAILABLE, Visitor, views_weights, visitor_state
from personalization.versions import version_activate
from storefront.shop import products_similar, recommendations_for_visitor, search_for_visitor
from storefront.shop import search as shop_search


# Running products point along the first axis, hiking ones the second, lifestyle the third.
@pytest.fixture
def no_model(shop, models_dir, settings):
    settings.CIS_MODEL_CHECK_SECONDS = 0


def redis_down_settings(settings) -> None:
    """The visitors' state in a Redis on a port where nothing listens: every call is refused."""
    redis_store_use(settings, REDIS_DOWN_URL)


@pytest.fixture
def redis_down(settings):
    redis_down_settings(settings)


def visitor(*viewed: str) -> Visitor:
    """A visitor with `viewed` tracked as product views."""
    who = Visitor()
    for sku in viewed:
        assert product_view_track(who, sku).notices == []
    return who


def state_of(*viewed: str):
    return visitor_state(visitor(*viewed))


def test_a_new_visitor_has_an_empty_state_and_the_store_is_not_asked(model, redis_down, caplog):
    with caplog.at_level(logging.WARNING):
        state = visitor_state(Visitor())
    assert state.skus == () and state.notices == ()
    assert not caplog.records


def test_visitor_state_holds_the_viewed_skus_and_gives_the_vector(model):
    state = state_of("RUN-1", "HIK-1")
    assert state.skus == ("RUN-1", "HIK-1")
    vector = state.vector(model_active())
    assert vector.shape == (4,) and np.isclose(np.linalg.norm(vector), 1)
    assert state.vector(None) is None


def test_the_vector_is_the_models_vectors_weighted_by_the_taste(model):
    # The behaviour changed: the taste's weighting (views_weights), not the recommender's.
    state = state_of("RUN-1", "HIK-1", "RUN-3")
    active = model_active()
    weights = views_weights(["RUN-1", "HIK-1", "RUN-3"])
    expected = sum(weights[sku] * active.recommender.vectors[sku] for sku in weights)
    assert np.allclose(state.vector(active), expected / np.linalg.norm(expected), atol=1e-6)


def test_the_vector_follows_the_newly_active_version(model, models_dir):
    state = state_of("RUN-1")
    before = state.vector(model_active())
    newer = dict(SHOP_VECTORS, **{"RUN-1": (0.0, 1.0, 0.0, 0.0)})  # now a hiking product
    version_activate(version_make(models_dir, newer))
    after = state.vector(model_active())
    assert not np.allclose(before, after) and np.allclose(after, [0, 1, 0, 0])


def test_a_visitor_with_a_token_but_no_views_has_an_empty_state(model):
    who = Visitor()
    who.identify()
    assert visitor_state(who).skus == ()


def test_visitor_state_with_redis_down_is_empty_with_a_notice(model, settings, caplog):
    who = visitor("RUN-1")
    redis_down_settings(settings)
    with caplog.at_level(logging.WARNING, logger="common.redis_circuit"):
        state = visitor_state(who)
    assert state.skus == () and state.notices == (UNAVAILABLE,)
    assert any("Redis at 127.0.0.1:1 failed" in r.getMessage() for r in caplog.records)


def test_product_view_track_records_the_event_and_the_state(model):
    who = Visitor()
    tracked = product_view_track(who, "RUN-1")
    assert tracked.notices == [] and tracked.state.skus == ("RUN-1",)
    assert who.token is not None and who.cookie_due  # identified for the event
    assert ViewEvent.objects.get().session_id == who.id
    assert visitor_state(who).skus == ("RUN-1",)


def test_product_view_track_with_redis_down_keeps_the_event_and_returns_a_notice(model, redis_down):
    who = Visitor()
    tracked = product_view_track(who, "RUN-1")
    assert tracked.notices == [UNAVAILABLE] and tracked.state.skus == ()
    event = ViewEvent.objects.get()
    assert event.sku == "RUN-1" and event.session_id == who.id


def test_search_for_a_new_visitor_is_the_plain_order(model):
    outcome = search_for_visitor("shoe", limit=50, visitor=Visitor())
    assert outcome.personalized is False and outcome.backend == "embedded"
    assert outcome.results == outcome.plain
    assert [r.sku for r in outcome.plain][:2] == PLAIN_SHOES
    assert all(r.similarity is None and r.because is None for r in outcome.results)
    assert outcome.notices == []


def test_search_for_a_visitor_with_history_reranks_and_keeps_the_plain_order(model):
    outcome = search_for_visitor("shoe", limit=50, visitor=visitor("RUN-1", "RUN-3"))
    assert outcome.personalized is True
    order = [r.sku for r in outcome.results]
    assert set(order[:3]) == {"RUN-1", "RUN-2", "RUN-4"} and set(order[3:]) == set(PLAIN_SHOES)
    assert [r.sku for r in outcome.plain][:2] == PLAIN_SHOES
    assert [r.position for r in outcome.results] == list(range(5))
    assert all(isinstance(r.similarity, float) for r in outcome.results)
    by_sku = {r.sku: r for r in outcome.results}
    assert by_sku["RUN-1"].viewed and by_sku["RUN-1"].because is None  # "You viewed this"
    assert by_sku["RUN-2"].because in {"RUN-1", "RUN-3"}
    assert by_sku["HIK-3"].because is None  # nothing viewed is like it


def test_search_with_personalize_off_ignores_the_history(model):
    who = visitor("RUN-1", "RUN-3")
    outcome = search_for_visitor("shoe", limit=50, visitor=who, personalize=False)
    assert outcome.personalized is False and outcome.results == outcome.plain
    assert [r.sku for r in outcome.results][:2] == PLAIN_SHOES


def test_search_without_a_model_is_the_plain_order(no_model):
    outcome = search_for_visitor("shoe", limit=50, visitor=visitor("RUN-1", "RUN-3"))
    assert outcome.personalized is False and outcome.results == outcome.plain
    assert [r.sku for r in outcome.results][:2] == PLAIN_SHOES


def test_search_with_redis_down_is_the_plain_order_with_a_notice(model, settings):
    who = visitor("RUN-1", "RUN-3")
    redis_down_settings(settings)
    outcome = search_for_visitor("shoe", limit=50, visitor=who)
    assert outcome.personalized is False and outcome.notices == [UNAVAILABLE]
    assert outcome.results == outcome.plain and [r.sku for r in outcome.plain][:2] == PLAIN_SHOES


def test_an_empty_query_finds_nothing_for_anyone(model):
    assert search_for_visitor("", limit=50, visitor=visitor("RUN-1")).results == []


def test_recommendations_for_a_new_visitor_are_left_to_the_caller(model):
    suggestions = recommendations_for_visitor(visitor_state(Visitor()), limit=5)
    assert suggestions.scored == [] and suggestions.personalized is False
    assert suggestions.notices == []


def test_recommendations_follow_the_views_and_leave_them_out(model):
    suggestions = recommendations_for_visitor(state_of("RUN-1", "RUN-3"), limit=20)
    assert suggestions.personalized is True
    skus = [sku for sku, _ in suggestions.scored]
    assert set(skus) == set(SHOP_VECTORS) - {"RUN-1", "RUN-3"}
    assert set(skus[:2]) == {"RUN-2", "RUN-4"}
    scores = [score for _, score in suggestions.scored]
    assert scores == sorted(scores, reverse=True)
    assert len(recommendations_for_visitor(state_of("HIK-1"), limit=3).scored) == 3


def test_recommendations_after_hiking_views_are_hiking(model):
    scored = recommendations_for_visitor(state_of("HIK-1"), limit=2).scored
    assert [sku for sku, _ in scored] == ["HIK-3", "HIK-2"]


def test_recommendations_without_a_model_are_none(no_model):
    suggestions = recommendations_for_visitor(state_of("RUN-1"), limit=5)
    assert suggestions.scored == [] and suggestions.personalized is False


def test_recommendations_with_redis_down_are_none_with_a_notice(model, settings):
    who = visitor("RUN-1")
    redis_down_settings(settings)
    suggestions = recommendations_for_visitor(visitor_state(who), limit=5)
    assert suggestions.scored == [] and suggestions.personalized is False
    assert suggestions.notices == [UNAVAILABLE]


def test_similar_products_are_the_nearest_neighbours(model):
    similar = products_similar("RUN-1", limit=3)
    assert [sku for sku, _ in similar] == ["RUN-4", "RUN-2", "RUN-3"]
    cosines = [cosine for _, cosine in similar]
    assert cosines == sorted(cosines, reverse=True) and 0.9 < cosines[-1] <= cosines[0] <= 1
    assert len(products_similar("RUN-1", limit=50)) == len(SHOP_VECTORS) - 1


def test_similar_products_of_a_sku_outside_the_model_are_none(model):
    assert products_similar("NOT-IN-THE-MODEL", limit=5) == []


def test_similar_products_without_a_model_are_none(no_model):
    assert products_similar("RUN-1", limit=5) == []


def test_similar_products_follow_the_newly_active_version(model, models_dir):
    assert products_similar("RUN-1", limit=1)[0][0] == "RUN-4"
    newer = dict(SHOP_VECTORS, **{"HIK-1": (1.0, 0.1, 0.0, 0.01)})  # now next to RUN-1
    version_activate(version_make(models_dir, newer))
    assert products_similar("RUN-1", limit=1)[0][0] == "HIK-1"


class SearchVia:
    """A stand-in for the resolved engine (`catalog_searcher()`) that searches through `search`."""

    def __init__(self, search, *, uses_session_vector=False):
        self.search, self.uses_session_vector = search, uses_session_vector


class RepliesHeld:
    """A TCP proxy in front of the real Redis that, once `hold()` is called, holds every reply
    until `release()` (or for at most `hold_seconds`), counting the replies it passed on."""

    def __init__(self, upstream_url: str, *, hold_seconds: float):
        parsed = urlsplit(upstream_url)
        self.upstream = (parsed.hostname, parsed.port)
        self.hold_seconds = hold_seconds
        self.released = threading.Event()
        self.released.set()
        self.replies_passed = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        port = self.server.getsockname()[1]
        self.url = f"redis://127.0.0.1:{port}/{parsed.path.lstrip('/') or '0'}"
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, replies: bool) -> None:
        with source, target:
            while data := source.recv(65536):
                if replies:
                    self.released.wait(self.hold_seconds)
                    self.replies_passed += 1
                target.sendall(data)


@pytest.mark.redis
def test_the_state_is_read_from_redis_while_the_engine_searches(
    model, settings, redis_url, monkeypatch
):
    redis_store_use(settings, redis_url)
    who = visitor("RUN-1", "RUN-3")
    # Held until the search has run (at most 30 s: a read that waited for the reply before
    # searching gets it then, and fails the test): the replies wait on the search, not a clock.
    proxy = RepliesHeld(redis_url, hold_seconds=30)
    redis_store_use(settings, proxy.url)
    slow_redis = settings.CACHES["personalization"]
    slow_redis["OPTIONS"] = {**slow_redis["OPTIONS"], "SOCKET_TIMEOUT": 60}
    settings.CACHES = {**settings.CACHES, "personalization": slow_redis}
    assert visitor_state(who).skus  # a connection to the proxy, kept in the pool
    proxy.hold()
    replies_at_hold = proxy.replies_passed
    replies_before_search = []

    def search_then_release(*args, **kwargs):
        replies_before_search.append(proxy.replies_passed - replies_at_hold)
        found = searcher.search(*args, **kwargs)
        proxy.release()
        return found

    searcher = catalog_searcher()
    monkeypatch.setattr(shop_search, "catalog_searcher", lambda: SearchVia(search_then_release))
    try:
        outcome = search_for_visitor("shoe", limit=50, visitor=who)
    finally:
        proxy.close()
    # Read first, then searched, the search would only start once Redis had answered.
    assert replies_before_search == [0]
    assert outcome.personalized is True and outcome.notices == []
    assert {r.sku for r in outcome.results[:3]} == {"RUN-1", "RUN-2", "RUN-4"}


def test_an_engine_that_rescores_gets_the_vector_read_before_it_searches(
    model, settings, monkeypatch
):
    who = visitor("RUN-1", "RUN-3")
    given = []

    def rescoring_search(query, *, limit, session_vector=None, **navigation):
        given.append(session_vector)
        return catalog_searcher().search(query, limit=limit, **navigation)

    rescoring = SearchVia(rescoring_search, uses_session_vector=True)
    monkeypatch.setattr(shop_search, "catalog_searcher", lambda: rescoring)
    outcome = search_for_visitor("shoe", limit=50, visitor=who)
    assert len(given) == 1 and given[0] is not None
    assert np.allclose(given[0], visitor_state(who).vector(model_active()))
    assert outcome.personalized is True


def test_a_personalized_search_works_out_the_plain_order_only_when_asked(model, monkeypatch):
    reranked_with = []

    def results_rerank_noted(hits, **kwargs):
        reranked_with.append("vector" if kwargs["session_vector"] is not None else "plain")
        return results_rerank(hits, **kwargs)

    monkeypatch.setattr(shop_search, "results_rerank", results_rerank_noted)
    outcome = search_for_visitor("shoe", limit=50, visitor=visitor("RUN-1", "RUN-3"))
    assert reranked_with == ["vector"]
    assert [r.sku for r in outcome.plain][:2] == PLAIN_SHOES
    assert outcome.plain is outcome.plain and reranked_with == ["vector", "plain"]


def test_a_search_resolves_the_engine_and_the_model_once(model, monkeypatch):
    from catalog.search import embedded
    from personalization import serving

    who = visitor("RUN-1", "RUN-3")
    counted = {"engine": 0, "model": 0}

    def counting(name, function):
        def call(*args, **kwargs):
            counted[name] += 1
            return function(*args, **kwargs)

        return call

    monkeypatch.setattr(
        embedded, "backend_from_settings", counting("engine", embedded.backend_from_settings)
    )
    monkeypatch.setattr(shop_search, "model_active", counting("model", serving.model_active))
    monkeypatch.setattr(serving, "model_active", counting("model", serving.model_active))
    page = shop_search.search_page("shoe", visitor=who, limit=10)
    assert page.outcome.personalized and any(row.because for row in page.rows)
    assert counted == {"engine": 1, "model": 1}


def test_a_repeated_search_reranks_with_the_window_kept_for_its_answer_and_model(
    model, models_dir, monkeypatch, settings
):
    from catalog.models import Product
    from catalog.search import search_index_rebuild
    from personalization import serving

    built = []

    class CountedWindow(serving.RerankWindow):
        def __init__(self, hits, recommender):
            super().__init__(hits, recommender)
            built.append(self)

    monkeypatch.setattr(serving, "RerankWindow", CountedWindow)
    runner, hiker = visitor("RUN-1", "RUN-3"), visitor("HIK-1")
    first = search_for_visitor("shoe", limit=10, visitor=runner)
    assert len(built) == 1 and first.personalized
    other = search_for_visitor("shoe", limit=10, visitor=hiker)
    again = search_for_visitor("shoe", limit=10, visitor=runner)
    assert len(built) == 1  # the same answer, the same model: one window for every visitor
    uncached = results_rerank(
        built[0].hits,
        session_vector=visitor_state(runner).vector(model_active()),
        recommender=model_active().recommender,
        weight=settings.CIS_RERANK_WEIGHT,
        viewed_skus=visitor_state(runner).skus,
        limit=10,
    )
    assert again.results == first.results == uncached
    assert [r.sku for r in other.results] != [r.sku for r in first.results]
    search_for_visitor("jacket", limit=10, visitor=runner)
    assert len(built) == 2  # another answer
    newer = dict(SHOP_VECTORS, **{"RUN-1": (0.0, 1.0, 0.0, 0.0)})
    version_activate(version_make(models_dir, newer))
    search_for_visitor("shoe", limit=10, visitor=runner)
    assert len(built) == 3 and built[2].vectors is not built[0].vectors  # another model
    Product.objects.create(sku="RUN-9", name="Trail Running Shoe, Red", target="men", image="")
    search_index_rebuild()  # the index changes: its answers are other answers
    search_for_visitor("shoe", limit=10, visitor=runner)
    assert len(built) == 4 and "RUN-9" in {hit.sku for hit in built[3].hits}  # a new answer
