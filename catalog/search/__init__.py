"""Product search behind one small interface, answered by the engine SEARCH_BACKEND names.

Each engine is a module of this package (`embedded`, `elasticsearch`, `coveo`) with a
`backend_from_settings()` that returns a `SearchBackend`: adding Algolia means adding
`algolia.py`. When the configured engine cannot answer, the built-in one does, with a notice.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from itertools import islice
from typing import Protocol

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from catalog.models import Product
from catalog.selectors import search_query_clean

logger = logging.getLogger(__name__)

EMBEDDED = "embedded"
SEARCH_WORDS_MAX = 32
REFRESH_BATCH = 500
WORD = re.compile(r"[^\W_]+")  # letters and digits: everything else separates words
POSSESSIVE = re.compile(r"(?<=\w)['\u2019]s\b", re.IGNORECASE)  # "kid's" is searched as "kid"

Vectors = Mapping[str, np.ndarray]
Progress = Callable[[int, int], None]  # (products done, products in all)


@dataclass(frozen=True)
class SearchHit:
    sku: str
    score: float  # the backend's text relevance (higher is better)
    similarity: float | None = None  # cosine to the session vector, from a server-side re-rank
    # The product's display fields when the engine stores them (the embedded one does), so a
    # results list needs no database query; None: look the product up.
    name: str | None = None
    target: str | None = None
    image: str | None = None  # as in the catalog: a URL or a media path ("" for none)


class SearchUnavailable(Exception):
    """The backend cannot answer: down, too slow, or misconfigured. Never carries a secret."""


class SearchBackend(Protocol):
    name: str
    # Whether `search` re-scores with the session vector it is given (a server-side re-rank);
    # when not, the caller may search before it has read the visitor's vector.
    uses_session_vector: bool

    def search(
        self, query: str, *, limit: int = 50, session_vector: np.ndarray | None = None
    ) -> list[SearchHit]:
        """The best `limit` products for `query`, best first. The query's words are searched
        as plain words: quotes, operators and field names in it are never syntax."""
        ...

    def index_rebuild(self, products: Iterable[Product], *, vectors: Vectors | None = None) -> int:
        """Replace the whole index with `products` (searches keep working meanwhile); return
        how many were indexed."""
        ...

    def index_update(
        self,
        products: Iterable[Product],
        *,
        deleted_skus: Iterable[str] = (),
        vectors: Vectors | None = None,
    ) -> None:
        """Add or replace `products` and remove `deleted_skus` in the current index."""
        ...


@dataclass
class CatalogSearchResult:
    hits: list[SearchHit]
    backend: str  # the engine that answered
    notice: str | None = None  # for the visitor, when the configured engine could not answer


@dataclass(frozen=True)
class SearchIndexReport:
    backend: str
    products: int
    seconds: float


def search_words(query: str, *, limit: int = SEARCH_WORDS_MAX) -> list[str]:
    """The words of `query`, lowercased, that every backend searches for.

    Lowercase, because engines spell their operators in capitals (AND, OR, NOT, NEAR): "and"
    is only a word. Punctuation never reaches an engine, so no quote or parenthesis can be
    syntax, and the count is bounded so a 10 KB query costs what a short one does. A
    possessive's "s" is dropped, as "kid's" means what "kids" and "kid" do.
    """
    return [word.lower() for word in WORD.findall(POSSESSIVE.sub("", query))[:limit]]


@cache
def search_backend_names() -> tuple[str, ...]:
    """The engines this package offers: one module each."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.ispkg))


def search_backend_configured() -> str:
    return getattr(settings, "SEARCH_BACKEND", EMBEDDED) or EMBEDDED


def search_backend(name: str | None = None) -> SearchBackend:
    """The engine called `name`, or SEARCH_BACKEND's, configured from the settings."""
    name = name or search_backend_configured()
    if name not in search_backend_names():
        raise ImproperlyConfigured(
            f"SEARCH_BACKEND must be one of {', '.join(search_backend_names())}, not {name!r}"
        )
    return importlib.import_module(f"{__name__}.{name}").backend_from_settings()


def search_backend_label(name: str) -> str:
    return {EMBEDDED: "The built-in search"}.get(name, name.capitalize())


def catalog_search(
    query: str, *, limit: int = 50, session_vector: np.ndarray | None = None
) -> CatalogSearchResult:
    """The configured engine's best `limit` products for what a visitor typed.

    When that engine cannot answer (down, timeout, misconfigured), the built-in one does and
    the result says so in `notice`: a search page never fails because a server is away.
    """
    text = search_query_clean(query)
    name = search_backend_configured()
    if not search_words(text) or limit <= 0:
        return CatalogSearchResult([], name)
    try:
        backend = search_backend(name)
        hits = backend.search(text, limit=limit, session_vector=session_vector)
        return CatalogSearchResult(hits, backend.name)
    except (SearchUnavailable, ImproperlyConfigured) as exc:
        logger.warning("%s cannot answer a search: %s", search_backend_label(name), exc)
    except Exception:
        if name == EMBEDDED:
            raise
        logger.exception("%s failed on a search", search_backend_label(name))
    if name == EMBEDDED:
        return CatalogSearchResult([], EMBEDDED, "Search is unavailable right now; please retry.")
    try:
        hits = search_backend(EMBEDDED).search(text, limit=limit)
    except SearchUnavailable as exc:
        logger.error("The built-in search cannot answer either: %s", exc)
        return CatalogSearchResult([], EMBEDDED, "Search is unavailable right now; please retry.")
    notice = (
        f"{search_backend_label(name)} is unavailable; showing results from the built-in search."
    )
    return CatalogSearchResult(hits, EMBEDDED, notice)


def catalog_search_uses_session_vector() -> bool:
    """Whether the configured engine re-scores with the session vector given to
    `catalog_search` (False when it cannot be configured: the built-in one answers then)."""
    try:
        return search_backend().uses_session_vector
    except (SearchUnavailable, ImproperlyConfigured):
        return False


def products_stored(skus: list[str]) -> list[SearchHit]:
    """The display fields the built-in index stores for these products, which it keeps
    current whatever engine is configured (an index lookup, not a database query); [] for
    those it does not hold, or when it does not exist."""
    try:
        return search_backend(EMBEDDED).products_stored(skus)
    except SearchUnavailable:
        return []


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


def items_batched(items: Iterable, size: int) -> Iterator[list]:
    """`items` in lists of `size` (the last one shorter), without reading ahead."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _products_streamed(skus: list[str]) -> Iterator[Product]:
    for start in range(0, len(skus), REFRESH_BATCH):
        yield from Product.objects.filter(sku__in=skus[start : start + REFRESH_BATCH])


def _products_counted(
    products: Iterable[Product], progress: Progress, *, total: int
) -> Iterator[Product]:
    done = 0
    progress(done, total)
    for product in products:
        yield product
        done += 1
        if done % 500 == 0:
            progress(done, max(total, done))
    progress(done, max(total, done))
