"""Product search behind one small interface, answered by the engine SEARCH_BACKEND names.

`base` holds what engines share, `registry` finds them, one module per engine answers. This
module is what the rest of the shop calls: search (resolved once per request, with the built-in
engine answering, and saying so, when the configured one cannot), and keeping indexes current.
The product vectors an index stores come from the provider CIS_PRODUCT_VECTORS_PROVIDER names,
so the catalog never imports the code that trains them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils.module_loading import import_string

from catalog.models import Product
from common.progress import Progress

from .base import (
    FACETS,
    PRICE_HIGH,
    PRICE_LOW,
    RELEVANCE,
    SORTS,
    Filters,
    KeptHits,
    SearchBackend,
    SearchFacets,
    SearchHit,
    SearchUnavailable,
    Vectors,
    search_query_clean,
    search_words,
)
from .registry import (
    EMBEDDED,
    search_backend,
    search_backend_configured,
    search_backend_label,
    search_backend_names,
)

__all__ = [
    "EMBEDDED",
    "KeptHits",
    "FACETS",
    "PRICE_HIGH",
    "PRICE_LOW",
    "RELEVANCE",
    "SORTS",
    "Filters",
    "SearchFacets",
    "CatalogSearch",
    "CatalogSearchResult",
    "SearchBackend",
    "SearchHit",
    "SearchIndexReport",
    "SearchUnavailable",
    "Vectors",
    "catalog_search",
    "catalog_searcher",
    "product_vectors",
    "products_stored",
    "search_backend",
    "search_backend_configured",
    "search_backend_label",
    "search_backend_names",
    "search_index_rebuild",
    "search_index_refresh",
    "search_index_refresh_on_commit",
    "search_query_clean",
    "search_words",
]

logger = logging.getLogger(__name__)

REFRESH_BATCH = 500
PROGRESS_EVERY = 500
UNAVAILABLE = "Search is unavailable right now; please retry."


@dataclass
class CatalogSearchResult:
    query: str  # what was searched: the visitor's text, cleaned
    hits: list[SearchHit]
    backend: str  # the engine that answered
    notice: str | None = None  # for the visitor, when the configured engine could not answer

    @property
    def memo(self) -> dict | None:
        """A dict that lives as long as the engine keeps this answer (see KeptHits), for what
        is derived from the hits alone; None when the engine keeps nothing."""
        return getattr(self.hits, "memo", None)


@dataclass(frozen=True)
class CatalogSearch:
    """The configured engine, resolved once for a request: whether it re-scores with the
    session vector, and its search with the built-in engine as the fallback."""

    name: str  # the configured engine's name
    backend: SearchBackend | None  # None: it cannot be configured (the built-in one answers)

    @property
    def uses_session_vector(self) -> bool:
        """Whether `search` hands the session vector to the engine, which re-scores with it."""
        return self.backend is not None and self.backend.uses_session_vector

    def search(
        self,
        query: str,
        *,
        limit: int = 50,
        session_vector: np.ndarray | None = None,
        filters: Filters | None = None,
        offset: int = 0,
        sort: str = RELEVANCE,
    ) -> CatalogSearchResult:
        """The engine's best `limit` products for what a visitor typed, narrowed by `filters`,
        from `offset`, in `sort` order.

        When that engine cannot answer (down, timeout, misconfigured), the built-in one does
        and the result says so in `notice`: a search page never fails because a server is away.
        An engine that does not filter, sort or page leaves those requests to the built-in one.
        """
        text = search_query_clean(query)
        if not search_words(text) or limit <= 0:
            return CatalogSearchResult(text, [], self.name)
        navigation = {"filters": filters, "offset": offset, "sort": sort}
        if filters or offset or sort != RELEVANCE:
            if self.backend is None or not self.backend.navigates:
                return self._builtin(text, limit=limit, **navigation)
        if self.backend is not None:
            try:
                if self.backend.navigates:
                    hits = self.backend.search(
                        text, limit=limit, session_vector=session_vector, **navigation
                    )
                else:
                    hits = self.backend.search(text, limit=limit, session_vector=session_vector)
                return CatalogSearchResult(text, hits, self.backend.name)
            except (SearchUnavailable, ImproperlyConfigured) as exc:
                logger.warning("%s cannot answer a search: %s", self._label, exc)
            except Exception:
                if self.name == EMBEDDED:
                    raise
                logger.exception("%s failed on a search", self._label)
        if self.name == EMBEDDED:
            return CatalogSearchResult(text, [], EMBEDDED, UNAVAILABLE)
        try:
            hits = search_backend(EMBEDDED).search(text, limit=limit, **navigation)
        except SearchUnavailable as exc:
            logger.error("The built-in search cannot answer either: %s", exc)
            return CatalogSearchResult(text, [], EMBEDDED, UNAVAILABLE)
        notice = f"{self._label} is unavailable; showing results from the built-in search."
        return CatalogSearchResult(text, hits, EMBEDDED, notice)

    def facets(self, query: str, *, filters: Filters | None = None) -> SearchFacets:
        """How many products match and how they spread over the facets; from the built-in
        engine when the configured one does not count them (or cannot answer)."""
        text = search_query_clean(query)
        engines = [self.backend] if self.backend is not None and self.backend.navigates else []
        if self.name != EMBEDDED or not engines:
            engines.append(search_backend(EMBEDDED))
        for engine in engines:
            try:
                return engine.facets(text, filters=filters)
            except SearchUnavailable as exc:
                logger.warning("%s cannot count facets: %s", engine.name, exc)
        return SearchFacets.none()

    def _builtin(self, text: str, *, limit: int, **navigation) -> CatalogSearchResult:
        try:
            hits = search_backend(EMBEDDED).search(text, limit=limit, **navigation)
        except SearchUnavailable as exc:
            logger.error("The built-in search cannot answer: %s", exc)
            return CatalogSearchResult(text, [], EMBEDDED, UNAVAILABLE)
        return CatalogSearchResult(text, hits, EMBEDDED)

    def products_stored(self, skus: list[str]) -> list[SearchHit]:
        """`products_stored`, from this engine when it is the built-in one."""
        if self.name == EMBEDDED and self.backend is not None:
            return _stored_or_none(self.backend, skus)
        return products_stored(skus)

    @property
    def _label(self) -> str:
        return search_backend_label(self.name)


def catalog_searcher() -> CatalogSearch:
    """The configured engine, resolved (a misconfigured one is logged, and left out)."""
    name = search_backend_configured()
    try:
        return CatalogSearch(name, search_backend(name))
    except (SearchUnavailable, ImproperlyConfigured) as exc:
        logger.warning("%s cannot answer a search: %s", search_backend_label(name), exc)
        return CatalogSearch(name, None)


def catalog_search(
    query: str, *, limit: int = 50, session_vector: np.ndarray | None = None
) -> CatalogSearchResult:
    """`catalog_searcher().search(...)`: for callers that search once."""
    return catalog_searcher().search(query, limit=limit, session_vector=session_vector)


def products_stored(skus: list[str]) -> list[SearchHit]:
    """The display fields the built-in index stores for these products, which it keeps
    current whatever engine is configured (an index lookup, not a database query); [] for
    those it does not hold, or when it does not exist."""
    return _stored_or_none(search_backend(EMBEDDED), skus)


def _stored_or_none(embedded: SearchBackend, skus: list[str]) -> list[SearchHit]:
    try:
        return embedded.products_stored(skus)
    except SearchUnavailable:
        return []


def product_vectors() -> Vectors | None:
    """SKU -> vector of the model that serves, for indexes that store them; None without one.
    Asked of the CIS_PRODUCT_VECTORS_PROVIDER callable."""
    return import_string(settings.CIS_PRODUCT_VECTORS_PROVIDER)()


@dataclass(frozen=True)
class SearchIndexReport:
    backend: str
    products: int
    seconds: float


def search_index_rebuild(
    *,
    backend: str | None = None,
    vectors: Vectors | None = None,
    progress: Progress | None = None,
) -> SearchIndexReport:
    """Rebuild the index of `backend` (default: the configured one) from the whole catalog.

    Raises SearchUnavailable when the engine cannot be reached; its live index then stays.
    """
    engine = search_backend(backend)
    started = time.monotonic()
    products: Iterable[Product] = Product.objects.order_by("sku").iterator(chunk_size=2000)
    if progress is not None:
        products = _products_counted(products, progress, total=Product.objects.count())
    count = engine.index_rebuild(products, vectors=vectors)
    return SearchIndexReport(engine.name, count, time.monotonic() - started)


def search_index_refresh(
    *, changed_skus: list[str], deleted_skus: list[str], vectors: Vectors | None = None
) -> None:
    """Bring the configured engine's index up to date after a catalog load has committed, and
    the built-in one's too when it exists, as it answers whenever the configured one cannot.

    A failure is logged, not raised: the load itself succeeded, and the next `index_catalog`
    catches the index up.
    """
    if not changed_skus and not deleted_skus:
        return
    names = dict.fromkeys([search_backend_configured(), EMBEDDED])
    for name in names:  # the built-in index, when missing, is built on its first search
        try:
            search_backend(name).index_update(
                _products_streamed(changed_skus), deleted_skus=deleted_skus, vectors=vectors
            )
        except (SearchUnavailable, ImproperlyConfigured) as exc:
            logger.warning(
                "The %s search index was not updated (%s changed, %s deleted products): %s",
                name,
                len(changed_skus),
                len(deleted_skus),
                exc,
            )
        except Exception:
            logger.exception("The %s search index was not updated after a catalog load", name)


def search_index_refresh_on_commit(changed_skus: list[str], deleted_skus: list[str]) -> None:
    """Once the transaction commits, bring the search indexes up to date with these products
    (their text, vectors and the display fields results show)."""
    if changed_skus or deleted_skus:
        transaction.on_commit(
            lambda: search_index_refresh(
                changed_skus=changed_skus, deleted_skus=deleted_skus, vectors=product_vectors()
            ),
            robust=True,
        )


def _products_streamed(skus: list[str]) -> Iterator[Product]:
    for start in range(0, len(skus), REFRESH_BATCH):
        yield from Product.objects.filter(sku__in=skus[start : start + REFRESH_BATCH])


def _products_counted(
    products: Iterable[Product], progress: Progress, *, total: int
) -> Iterator[Product]:
    progress.total = total
    progress.update(0)
    done = 0
    for product in products:
        yield product
        done += 1
        if done % PROGRESS_EVERY == 0:
            progress.total = max(total, done)
            progress.update(PROGRESS_EVERY)
    progress.total = max(total, done)
    progress.update(done % PROGRESS_EVERY)
