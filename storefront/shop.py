"""What the shop's pages and its JSON API ask, each answered in one place: a search re-ranked
for the visitor with its result cards, recommendations, similar and popular products.

The only module that combines the catalog with personalization. A page and its API endpoint
call the same function; the search engine and the active model are looked up once per request.
When the visitor's state cannot be read (Redis down), each answer is the plain one with a
notice, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from django.conf import settings
from django.core.cache import cache

from catalog.models import Product
from catalog.search import (
    RELEVANCE,
    CatalogSearch,
    CatalogSearchResult,
    Filters,
    SearchFacets,
    catalog_searcher,
)
from catalog.selectors import ProductCard, product_cards, products_by_skus
from personalization.affinity import Liking, visitor_affinity
from personalization.engine.reranking import RankedResult, RerankWindow, results_rerank
from personalization.events import product_view_track
from personalization.selectors import skus_most_viewed
from personalization.serving import ActiveModel, model_active, recommender_active
from personalization.state import Visitor, VisitorState, visitor_state, visitor_state_reading

POPULAR_CACHE_SECONDS = 300
PERSONAS_CACHE_SECONDS = 60


@dataclass
class SearchOutcome:
    query: str  # as searched: the visitor's text, cleaned
    backend: str
    personalized: bool
    results: list[RankedResult]  # the first `limit` as shown: re-ranked when personalized
    notices: list[str]
    plain_order: Callable[[], list[RankedResult]] = field(repr=False, compare=False)
    state: VisitorState = VisitorState()  # the visitor's, as read for this search (or empty)

    @cached_property
    def plain(self) -> list[RankedResult]:
        """The backend's own order (as many as `results`), worked out when first asked for:
        a personalized search shown alone does not need it."""
        return self.plain_order()


def search_for_visitor(
    query: str,
    *,
    visitor: Visitor,
    limit: int,
    personalize: bool = True,
    strength: float = 1.0,
    filters: Filters | None = None,
    searcher: CatalogSearch | None = None,
) -> SearchOutcome:
    """The first `limit` of the backend's top window for `query` re-ranked against the
    visitor's session vector, and the first `limit` of the backend's own order.

    A visitor without history (or with `personalize` off) gets the backend's order.
    `strength` (0..1) scales how far similarity may move a result (CIS_RERANK_WEIGHT).
    `searcher`: the engine, when the caller has resolved it.
    """
    model = model_active()
    searcher = searcher or catalog_searcher()
    # Only a re-rank needs more than what is shown.
    window = max(settings.CIS_RERANK_WINDOW, limit) if personalize else limit
    with visitor_state_reading(visitor, wanted=personalize) as state_read:
        if searcher.uses_session_vector:  # the engine re-scores: it needs the vector first
            state = state_read()
            vector = state.vector(model)
            found = searcher.search(query, limit=window, session_vector=vector, filters=filters)
        else:  # Redis answers while the engine searches
            found = searcher.search(query, limit=window, filters=filters)
            state = state_read()
            vector = state.vector(model)
    notices = [*state.notices] + ([found.notice] if found.notice else [])
    weight = settings.CIS_RERANK_WEIGHT * min(max(strength, 0.0), 1.0)

    def plain_order() -> list[RankedResult]:
        return results_rerank(
            found.hits, session_vector=None, recommender=None, weight=weight, limit=limit
        )

    if vector is None:
        plain = plain_order()
        return SearchOutcome(
            found.query, found.backend, False, plain, notices, lambda: plain, state
        )
    ranked = results_rerank(
        found.hits,
        session_vector=vector,
        recommender=model.recommender,
        weight=weight,
        viewed_skus=state.skus,
        limit=limit,
        window=_rerank_window(found, model),
    )
    personalized = any(result.similarity is not None for result in ranked)
    return SearchOutcome(
        found.query, found.backend, personalized, ranked, notices, plain_order, state
    )


def _rerank_window(found: CatalogSearchResult, model: ActiveModel) -> RerankWindow:
    """The window's re-rank arrays for `model`, kept with the engine's answer while the engine
    keeps it: a repeated search ("shoes") gathers its products' vectors once per model."""
    if found.memo is None:
        return RerankWindow(found.hits, model.recommender)
    kept = found.memo.get("rerank-window")  # (model version, window): one per answer
    if kept is None or kept[0] != model.version_id:
        kept = found.memo["rerank-window"] = (
            model.version_id,
            RerankWindow(found.hits, model.recommender),
        )
    return kept[1]


@dataclass(frozen=True)
class ResultRow:
    """A search result as a page or the API shows it."""

    result: RankedResult
    product: ProductCard
    because: ProductCard | None  # the viewed product it resembles, when that explains it


@dataclass(frozen=True)
class CompareRow:
    """One line of the side-by-side view: the plain order's result and the personalized one."""

    plain: ResultRow | None
    personalized: ResultRow


@dataclass
class SearchPage:
    outcome: SearchOutcome
    personalize: bool
    rows: list[ResultRow]  # in the order shown: personalized, or plain when not `personalize`
    compared: list[CompareRow]  # the first `compare` rows of both orders, when asked for
    facets: SearchFacets | None  # how many match, over targets and categories (when counted)
    page: int = 1
    pages: int | None = None  # None when the facets were not counted
    filters: dict[str, str] = field(default_factory=dict)
    sort: str = RELEVANCE


def search_page(
    query: str,
    *,
    visitor: Visitor,
    limit: int,
    personalize: bool = True,
    strength: float = 1.0,
    compare: int = 0,
    filters: Filters | None = None,
    page: int = 1,
    sort: str = RELEVANCE,
    counted: bool = True,
) -> SearchPage:
    """Page `page` (of `limit` results) of a search for this visitor, narrowed by `filters`, in
    `sort` order, with every product card it shows, looked up together: the results
    (personalized, or plain when not `personalize`), the products they were chosen "because"
    of, with `compare` the first `compare` of the plain order beside them, and when `counted`,
    the facets (a count of everything that matches, which costs what a search does).

    Pages within the re-rank window are personalized; pages past it, and a sort by price,
    follow the engine's order."""
    searcher = catalog_searcher()
    filters = {name: value for name, value in (filters or {}).items() if value}
    offset = (max(page, 1) - 1) * limit
    window = max(settings.CIS_RERANK_WINDOW, limit)
    tail: list[RankedResult] = []
    if sort == RELEVANCE and offset < window:
        outcome = search_for_visitor(
            query,
            visitor=visitor,
            limit=min(offset + limit, window),
            personalize=personalize,
            strength=strength,
            filters=filters,
            searcher=searcher,
        )
        if offset + limit > window:  # the page runs past the window: the engine's order then
            after = searcher.search(
                query, limit=offset + limit - window, filters=filters, offset=window
            )
            tail = _outcome_plain(after, limit=limit, start=window).results
    else:
        found = searcher.search(query, limit=limit, filters=filters, offset=offset, sort=sort)
        # Not re-ranked, but the page still shows what the shop thinks the visitor likes.
        state = visitor_state(visitor) if personalize else VisitorState()
        outcome = _outcome_plain(found, limit=limit, start=offset, state=state)
        offset, compare = 0, 0
    shown = (outcome.results if personalize else outcome.plain)[offset:] + tail
    plain = outcome.plain[offset : offset + compare] if compare else []  # only when shown
    cards = product_cards(
        [r.sku for r in shown] + [r.because for r in shown if r.because] + [r.sku for r in plain],
        known=[r.hit for r in shown + plain if r.hit is not None],
        stored=searcher.products_stored,
    )
    rows = [_row(r, cards) for r in shown if r.sku in cards]
    compared = [
        CompareRow(_row(p, cards) if p.sku in cards else None, row)
        for p, row in zip(plain, rows[:compare], strict=False)
    ]
    facets = searcher.facets(query, filters=filters) if counted else None
    pages = max(1, math.ceil(facets.total / limit)) if facets is not None else None
    return SearchPage(outcome, personalize, rows, compared, facets, page, pages, filters, sort)


def _outcome_plain(
    found: CatalogSearchResult, *, limit: int, start: int = 0, state: VisitorState | None = None
) -> SearchOutcome:
    """The engine's own order, as an outcome (a page past the re-rank window, a sort), its
    positions counted from `start`."""
    plain = results_rerank(
        found.hits, session_vector=None, recommender=None, weight=0.0, limit=limit
    )
    for result in plain:
        result.plain_position += start
        result.position += start
    state = state or VisitorState()
    notices = [*state.notices] + ([found.notice] if found.notice else [])
    return SearchOutcome(found.query, found.backend, False, plain, notices, lambda: plain, state)


def _row(result: RankedResult, cards: dict[str, ProductCard]) -> ResultRow:
    because = cards.get(result.because) if result.because else None
    return ResultRow(result, cards[result.sku], because)


@dataclass
class Suggestions:
    scored: list[tuple[str, float]]  # (sku, score), best first
    personalized: bool
    notices: list[str] = field(default_factory=list)


def recommendations_for_visitor(state: VisitorState, *, limit: int) -> Suggestions:
    """Products for a visitor in `state`, none they viewed; empty without views or a model
    (the caller shows popular products instead)."""
    model = model_active()
    if not state.skus or model is None:
        return Suggestions([], False, list(state.notices))
    scored = model.recommender.recommend(list(state.skus), k=limit, exclude=set(state.skus))
    return Suggestions(scored, bool(scored), list(state.notices))


def products_similar(sku: str, *, limit: int) -> list[tuple[str, float]]:
    """(sku, cosine) of the products nearest to `sku` in the embedding space, best first;
    empty without a model or a vector for `sku`."""
    recommender = recommender_active()
    if recommender is None:
        return []
    return recommender.similar(sku, k=limit)


def products_popular(*, limit: int = 12) -> list[Product]:
    """The most viewed products (cached for a few minutes), or the first ones of the catalog."""
    skus = cache.get_or_set(
        "catalog:popular-skus",
        lambda: skus_most_viewed(limit=limit * 2),
        timeout=POPULAR_CACHE_SECONDS,
    )
    products = products_by_skus(skus)[:limit]
    if len(products) < limit:
        have = {p.sku for p in products}
        products += [p for p in Product.objects.all()[: limit * 2] if p.sku not in have]
    return products[:limit]


@dataclass(frozen=True)
class Profile:
    """What the shop knows of a visitor, as the "What we think you like" panel shows it."""

    viewed: list[str]  # most recent first, each once
    affinity: dict[str, list[Liking]]  # facet -> the values liked most, with shares
    notices: list[str]

    @property
    def personalized(self) -> bool:
        return bool(self.affinity)


def visitor_profile(state: VisitorState) -> Profile:
    """The visitor's recent views and their affinity to categories and audiences."""
    return Profile(
        state.viewed_recently, visitor_affinity(state, model_active()), list(state.notices)
    )


@dataclass(frozen=True)
class Persona:
    slug: str
    label: str  # "a runner"
    skus: list[str]  # what browsing as them views, in order


def personas_available() -> list[Persona]:
    """The personas of CIS_PERSONAS that this catalog can play: each views the first result
    of each of its searches (at least two found, or the persona is left out). Worked out at
    most once a minute."""
    return cache.get_or_set("shop:personas", _personas_found, timeout=PERSONAS_CACHE_SECONDS)


def _personas_found() -> list[Persona]:
    searcher = catalog_searcher()
    personas = []
    for slug, label, queries in settings.CIS_PERSONAS:
        found = [searcher.search(query, limit=1).hits for query in queries]
        skus = list(dict.fromkeys(hits[0].sku for hits in found if hits))
        if len(skus) >= 2:
            personas.append(Persona(slug, label, skus))
    return personas


def persona_browse(visitor: Visitor, slug: str) -> Persona | None:
    """Start afresh as the persona `slug`: forget the visitor's state, then view the persona's
    products one after the other, as real views (the state and the event log). None for a
    persona this shop does not have."""
    persona = next((p for p in personas_available() if p.slug == slug), None)
    if persona is None:
        return None
    visitor.forget()
    for sku in persona.skus:
        product_view_track(visitor, sku)
    return persona
