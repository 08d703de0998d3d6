"""Product search behind one small interface, answered by the engine SEARCH_BACKEND names.

`base` holds what engines share, `registry` finds them, one module per engine answers. This
module is what the rest of the shop calls: search (resolved once per request, with the built-in
engine answering, and saying so, when the configured one cannot), and keeping indexes current.
The product vectors an index stores come from the provider CIS_PRODUCT_VECTORS_PROVIDER names,
so the catalog never imports the code that trains them.

Keeping indexes current: a catalog write records its change (`catalog_change_record`) in its
own transaction, which bumps the catalog's version; once it commits, the indexes take the
changed products and record that version. The refresh runs after the commit, so a process
killed in between leaves the indexes behind a committed catalog. `search_index_check` finds
that by comparing versions, and rebuilds: Celery beat runs it every
CIS_SEARCH_INDEX_CHECK_SECONDS, a Celery worker when it starts, `index_catalog --check` and
`demo_setup` on demand. Web processes do not check: a page must never wait for a rebuild, one
index serves every process, and a check per request would cost a query for a rare event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from catalog.changes import CatalogState, catalog_state, catalog_version_bump
from catalog.models import Product
from common.kept_cache import kept_forget
from common.progress import Progress

from .base import (
    FACETS,
    PRICE_HIGH,
    PRICE_LOW,
    RELEVANCE,
    SORTS,
    UNRECORDED,
    Filters,
    IndexState,
    KeptHits,
    SearchBackend,
    SearchFacets,
    SearchHit,
    SearchUnavailable,
    Vectors,
    search_query_clean,
    search_words,
    vectors_version,
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
    "IndexCheckOutcome",
    "IndexState",
    "SEARCH_UNAVAILABLE",
    "SearchBackend",
    "SearchHit",
    "SearchIndexCheck",
    "SearchIndexReport",
    "SearchUnavailable",
    "UNRECORDED",
    "Vectors",
    "catalog_change_record",
    "catalog_search",
    "catalog_searcher",
    "product_vectors",
    "products_stored",
    "search_backend",
    "search_backend_configured",
    "search_backend_label",
    "search_backend_names",
    "search_index_check",
    "search_index_rebuild",
    "search_index_refresh",
    "search_query_clean",
    "search_words",
]

logger = logging.getLogger(__name__)

REFRESH_BATCH = 500
PROGRESS_EVERY = 500
# What a visitor reads when no engine, not even the built-in one, can answer.
SEARCH_UNAVAILABLE = "Search is unavailable right now; please retry."


@dataclass
class CatalogSearchResult:
    query: str  # what was searched: the visitor's text, cleaned
    hits: list[SearchHit]
    backend: str  # the engine that answered
    notice: str | None = None  # for the visitor, when the configured engine could not answer
    # What the engine searched for when it read the words otherwise (a synonym, a misspelt
    # word corrected): "Showing results for ..." (see ReadHits); None: the words as typed.
    understood: str | None = None

    @property
    def answer_key(self) -> Hashable | None:
        """What names this answer while the engine keeps it (see KeptHits), for callers that
        keep what they derive from the hits alone; None when the engine keeps nothing."""
        return getattr(self.hits, "key", None)


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
                return CatalogSearchResult(
                    text, hits, self.backend.name, understood=_understood(hits)
                )
            except (SearchUnavailable, ImproperlyConfigured) as exc:
                logger.warning("%s cannot answer a search: %s", self._label, exc)
            except Exception:
                if self.name == EMBEDDED:
                    raise
                logger.exception("%s failed on a search", self._label)
        if self.name == EMBEDDED:
            return CatalogSearchResult(text, [], EMBEDDED, SEARCH_UNAVAILABLE)
        try:
            hits = search_backend(EMBEDDED).search(text, limit=limit, **navigation)
        except SearchUnavailable as exc:
            logger.error("The built-in search cannot answer either: %s", exc)
            return CatalogSearchResult(text, [], EMBEDDED, SEARCH_UNAVAILABLE)
        notice = f"{self._label} is unavailable; showing results from the built-in search."
        return CatalogSearchResult(text, hits, EMBEDDED, notice, _understood(hits))

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
            return CatalogSearchResult(text, [], EMBEDDED, SEARCH_UNAVAILABLE)
        return CatalogSearchResult(text, hits, EMBEDDED, understood=_understood(hits))

    def products_stored(self, skus: list[str]) -> list[SearchHit]:
        """`products_stored`, from this engine when it is the built-in one."""
        if self.name == EMBEDDED and self.backend is not None:
            return _stored_or_none(self.backend, skus)
        return products_stored(skus)

    @property
    def _label(self) -> str:
        return search_backend_label(self.name)


def _understood(hits: list[SearchHit]) -> str | None:
    return getattr(hits, "understood", None)


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
    """Rebuild the index of `backend` (default: the configured one) from the whole catalog,
    recording the catalog's version (and the vectors' model) it was built from.

    Raises SearchUnavailable when the engine cannot be reached; its live index then stays.
    """
    engine = search_backend(backend)
    started = time.monotonic()
    # Read before the products: a change committed in between is then held but not claimed,
    # which costs at most a rebuild more, where the other order could claim a missing change.
    state = IndexState.built(catalog_state(), vectors=vectors_version(vectors))
    products: Iterable[Product] = Product.objects.order_by("sku").iterator(chunk_size=2000)
    if progress is not None:
        products = _products_counted(products, progress, total=Product.objects.count())
    count = engine.index_rebuild(products, vectors=vectors, state=state)
    return SearchIndexReport(engine.name, count, time.monotonic() - started)


def search_index_refresh(
    *,
    changed_skus: list[str],
    deleted_skus: list[str],
    vectors: Vectors | None = None,
    change: CatalogState | None = None,
) -> None:
    """Bring the configured engine's index up to date after a catalog write has committed, and
    the built-in one's too when it exists, as it answers whenever the configured one cannot;
    each then records that it holds `change` (the write's catalog version).

    A failure is logged, not raised: the write itself succeeded, and `search_index_check`
    finds the index behind and rebuilds it.
    """
    if not changed_skus and not deleted_skus:
        return
    names = dict.fromkeys([search_backend_configured(), EMBEDDED])
    for name in names:  # the built-in index, when missing, is built on its first search
        try:
            search_backend(name).index_update(
                _products_streamed(changed_skus),
                deleted_skus=deleted_skus,
                vectors=vectors,
                change=change,
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


def catalog_change_record(
    *, changed_skus: list[str], deleted_skus: list[str]
) -> CatalogState | None:
    """Record, inside a catalog write's transaction, that these products changed: the catalog's
    version goes up with the write, and once it commits the search indexes take the products
    (their text, vectors and the display fields results show) and that version. Every write
    to the catalog calls it; None when nothing changed."""
    if not changed_skus and not deleted_skus:
        return None
    change = catalog_version_bump()

    def committed() -> None:
        kept_forget()  # what this process kept of the catalog is asked anew
        search_index_refresh(
            changed_skus=changed_skus,
            deleted_skus=deleted_skus,
            vectors=product_vectors(),
            change=change,
        )

    transaction.on_commit(committed, robust=True)
    return change


class IndexCheckOutcome(StrEnum):
    """What search_index_check found of an index."""

    CURRENT = "current"  # it holds the catalog (and the vectors) as they are
    REBUILT = "rebuilt"  # it was behind, and was rebuilt
    WAITING = "waiting"  # one change behind, whose own refresh may still be running
    MISSING = "missing"  # the built-in fallback, not built yet: its first search builds it
    UNAVAILABLE = "unavailable"  # the engine could not be reached


@dataclass(frozen=True)
class SearchIndexCheck:
    backend: str
    outcome: IndexCheckOutcome
    detail: str = ""  # what was behind, or why nothing could be done
    report: SearchIndexReport | None = None  # the rebuild's


_unavailable: set[str] = set()  # engines this process found unavailable at its last check


def search_index_check(*, grace: float = 0.0) -> list[SearchIndexCheck]:
    """Compare the catalog state each index records (the configured engine's, and the built-in
    one's when it exists) with the catalog's and, for indexes that store vectors, the active
    model's; rebuild those that differ.

    `grace`: seconds after a catalog change during which an index one version behind is left
    alone, as the change's own refresh may still be running (a check seconds after a large
    load would otherwise rebuild beside it); 0 rebuilds at once. A missing index of the
    configured engine is built; a missing built-in one, a fallback, is left to its first search.
    An engine that cannot be reached is reported, and checked again next time.
    """
    state = catalog_state()
    configured = search_backend_configured()
    checks = []
    for name in dict.fromkeys([configured, EMBEDDED]):
        try:
            checks.append(_index_check(name, state, grace=grace, configured=name == configured))
        except (SearchUnavailable, ImproperlyConfigured) as exc:
            if name not in _unavailable:  # one warning while it lasts, not one per check
                logger.warning("The %s search index cannot be checked: %s", name, exc)
            _unavailable.add(name)
            checks.append(SearchIndexCheck(name, IndexCheckOutcome.UNAVAILABLE, str(exc)))
            continue
        _unavailable.discard(name)
    return checks


def _index_check(
    name: str, state: CatalogState, *, grace: float, configured: bool
) -> SearchIndexCheck:
    engine = search_backend(name)
    held = engine.index_state()
    if held is None and not configured:
        return SearchIndexCheck(
            name, IndexCheckOutcome.MISSING, "no index yet: its first search builds it"
        )
    vectors = product_vectors() if engine.stores_vectors else None
    behind = "there is no index" if held is None else held.behind(state)
    if behind is None and engine.stores_vectors and held.vectors != vectors_version(vectors):
        behind = f"its vectors are of {held.vectors or 'no model'}, not of the active model " + (
            vectors_version(vectors) or "(none)"
        )
    elif behind is not None and held is not None and held.catalog == state.token:
        # Only the last change may be on its way: one missing before it was lost, and a shop
        # edited every minute must not put its repair off for ever.
        changed = state.changed_at
        recent = changed is not None and timezone.now() - changed < timedelta(seconds=grace)
        if recent and held.version == state.version - 1:
            logger.info("The %s search index is behind (%s): waiting for its refresh", name, behind)
            return SearchIndexCheck(name, IndexCheckOutcome.WAITING, behind)
    if behind is None:
        return SearchIndexCheck(name, IndexCheckOutcome.CURRENT)
    # A first build is routine; an index found behind is worth a warning.
    level = logging.INFO if held is None else logging.WARNING
    logger.log(level, "The %s search index is stale (%s): rebuilding it", name, behind)
    report = search_index_rebuild(backend=name, vectors=vectors)
    logger.log(
        level, "Rebuilt the %s search index: %s products in %.1f s", name, report.products,
        report.seconds,
    )  # fmt: skip
    return SearchIndexCheck(name, IndexCheckOutcome.REBUILT, behind, report)


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
