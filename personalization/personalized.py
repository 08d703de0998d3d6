"""What the shop's pages and API ask of personalization: a view recorded for the visitor,
search re-ranked for them, recommendations and similar products. When the visitor's state
cannot be read (Redis down), each answer is the plain one with a notice, never an error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase

from catalog.search import catalog_search, catalog_search_uses_session_vector

from .engine.recommender import SessionRecommender
from .engine.reranking import RankedResult, results_rerank
from .services import product_view_record, session_id_for
from .serving import recommender_active
from .session_vectors import (
    PersonalizationUnavailable,
    SessionState,
    session_state_reading,
    session_view_add,
)

UNAVAILABLE = "Personalization is unavailable right now, so results are not tailored to you."


@dataclass
class VisitorState:
    state: SessionState | None
    notices: list[str] = field(default_factory=list)


def visitor_state(session: SessionBase) -> VisitorState:
    """The visitor's session vector and recent SKUs, if they have any and they can be read."""
    with visitor_state_reading(session) as visitor_read:
        return visitor_read()


@contextmanager
def visitor_state_reading(
    session: SessionBase, *, wanted: bool = True
) -> Iterator[Callable[[], VisitorState]]:
    """Ask for the visitor's state now, get it from the call given when ready (see
    `session_state_reading`). Not `wanted`, or without a session key: no state, nothing asked."""
    if session.session_key is None or not wanted:
        yield lambda: VisitorState(None)
        return
    with session_state_reading(session_id_for(session.session_key)) as state_read:

        def visitor_read() -> VisitorState:
            try:
                return VisitorState(state_read())
            except PersonalizationUnavailable:
                return VisitorState(None, [UNAVAILABLE])

        yield visitor_read


def product_view_track(session: SessionBase, sku: str) -> list[str]:
    """Record a product view (session, event log) and move the session vector; the notices.

    The event is written first and whatever happens to Redis, it stays written.
    """
    event = product_view_record(session, sku)
    try:
        session_view_add(event.session_id, sku)
    except PersonalizationUnavailable:
        return [UNAVAILABLE]
    return []


@dataclass
class SearchOutcome:
    query: str
    backend: str
    personalized: bool
    results: list[RankedResult]  # the first `limit` as shown: re-ranked when personalized
    notices: list[str]
    plain_order: Callable[[], list[RankedResult]] = field(repr=False, compare=False)

    @cached_property
    def plain(self) -> list[RankedResult]:
        """The backend's own order (as many as `results`), worked out when first asked for:
        a personalized search shown alone does not need it."""
        return self.plain_order()


def search_for_visitor(
    query: str, *, session: SessionBase, limit: int, personalize: bool = True
) -> SearchOutcome:
    """The first `limit` of the backend's top window for `query` re-ranked against the
    visitor's session vector, and the first `limit` of the backend's own order.

    A visitor without history (or with `personalize` off) gets the backend's order.
    """
    recommender = recommender_active()
    with visitor_state_reading(session, wanted=personalize) as visitor_read:
        if catalog_search_uses_session_vector():  # the engine re-scores: it needs the vector
            visitor = visitor_read()
            vector = _vector_served(visitor.state, recommender)
            found = catalog_search(query, limit=settings.CIS_RERANK_WINDOW, session_vector=vector)
        else:  # Redis answers while the engine searches
            found = catalog_search(query, limit=settings.CIS_RERANK_WINDOW)
            visitor = visitor_read()
            vector = _vector_served(visitor.state, recommender)
    state = visitor.state
    notices = visitor.notices + ([found.notice] if found.notice else [])

    def plain_order() -> list[RankedResult]:
        return results_rerank(
            found.hits,
            session_vector=None,
            recommender=None,
            weight=settings.CIS_RERANK_WEIGHT,
            limit=limit,
        )

    if vector is None:
        plain = plain_order()
        return SearchOutcome(query, found.backend, False, plain, notices, lambda: plain)
    ranked = results_rerank(
        found.hits,
        session_vector=vector,
        recommender=recommender,
        weight=settings.CIS_RERANK_WEIGHT,
        viewed_skus=state.skus,
        limit=limit,
    )
    personalized = any(result.similarity is not None for result in ranked)
    return SearchOutcome(query, found.backend, personalized, ranked, notices, plain_order)


def _vector_served(
    state: SessionState | None, recommender: SessionRecommender | None
) -> np.ndarray | None:
    return state.vector if state is not None and recommender is not None else None


@dataclass
class Suggestions:
    scored: list[tuple[str, float]]  # (sku, score), best first
    personalized: bool
    notices: list[str] = field(default_factory=list)


def recommendations_for_visitor(session: SessionBase, *, limit: int) -> Suggestions:
    """Products for this visitor from their session, none they viewed; empty without history
    or a model (the caller shows popular products instead)."""
    visitor = visitor_state(session)
    recommender = recommender_active()
    state = visitor.state
    if state is None or not state.skus or recommender is None:
        return Suggestions([], False, visitor.notices)
    scored = recommender.recommend(list(state.skus), k=limit, exclude=set(state.skus))
    return Suggestions(scored, bool(scored), visitor.notices)


def products_similar(sku: str, *, limit: int) -> list[tuple[str, float]]:
    """(sku, cosine) of the products nearest to `sku` in the embedding space, best first;
    empty without a model or a vector for `sku`."""
    recommender = recommender_active()
    if recommender is None:
        return []
    return recommender.similar(sku, k=limit)
