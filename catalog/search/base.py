"""What every search engine shares: the hit it returns, the interface it implements, the error
it raises, and the words of a query as all of them search it."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import islice
from typing import Protocol

import numpy as np

from catalog.models import Product

SEARCH_QUERY_MAX = 200
SEARCH_WORDS_MAX = 32
WORD = re.compile(r"[^\W_]+")  # letters and digits: everything else separates words
POSSESSIVE = re.compile(r"(?<=\w)['\u2019]s\b", re.IGNORECASE)  # "kid's" is searched as "kid"

Vectors = Mapping[str, np.ndarray]  # SKU -> unit-length product vector
Filters = Mapping[str, str]  # facet field -> the value a product must have

# What a search can be narrowed by and counted on, and how it can be sorted.
FACETS = ("target", "category")
RELEVANCE, PRICE_LOW, PRICE_HIGH = "relevance", "price_asc", "price_desc"
SORTS = (RELEVANCE, PRICE_LOW, PRICE_HIGH)


@dataclass(frozen=True)
class SearchFacets:
    total: int  # products that match
    values: dict[str, list[tuple[str, int]]]  # facet field -> (value, products), most first

    @classmethod
    def none(cls) -> SearchFacets:
        """Nothing matches: every facet empty."""
        return cls(0, {field: [] for field in FACETS})


def facet_values(counts: Iterable[tuple[object, object]]) -> list[tuple[str, int]]:
    """(value, products) pairs as a facet lists them: most products first, then by value;
    products without a value are not a value to choose."""
    pairs = [(str(value), int(count)) for value, count in counts if value]
    return sorted(pairs, key=lambda pair: (-pair[1], pair[0]))


def display_json(*, name: str, target: str, image: str, extra: Mapping | None) -> str:
    """A product's display fields as an engine stores them (`SearchHit.display`)."""
    return json.dumps({"name": name, "target": target, "image": image, "extra": extra or {}})


@dataclass(eq=True)  # not frozen: a frozen dataclass costs twice as much to make, 200 a search
class SearchHit:
    sku: str
    score: float  # the backend's text relevance (higher is better)
    similarity: float | None = None  # cosine to the session vector, from a server-side re-rank
    # The product's display fields when the engine stores them (the embedded one does), so a
    # results list needs no database query: JSON text of {name, target, image, extra}, decoded
    # only for the results a page shows, not for the whole re-ranked window. None: look the
    # product up.
    display: str | None = None

    @classmethod
    def displayed(
        cls, sku: str, score: float, *, name: str, target: str = "", image: str = "", extra=None
    ) -> SearchHit:
        """A hit that carries its product's display fields."""
        return cls(
            sku, score, None, display_json(name=name, target=target, image=image, extra=extra)
        )

    @cached_property
    def fields(self) -> dict | None:
        """The display fields: name, target, image (a URL or a media path, "" for none) and
        extra (the optional columns); None when the engine stores none."""
        return json.loads(self.display) if self.display else None

    @property
    def name(self) -> str | None:
        return self.fields["name"] if self.fields else None


class KeptHits(list):
    """Hits of an answer the engine keeps (see the built-in engine's answers): `memo` lives as
    long as the answer does, for what callers derive from the hits alone (a re-rank window),
    so that a repeated search does not derive it again. Engines that keep nothing return a
    plain list."""

    def __init__(self, hits: Iterable[SearchHit], memo: dict):
        super().__init__(hits)
        self.memo = memo


class SearchUnavailable(Exception):
    """The backend cannot answer: down, too slow, or misconfigured. Never carries a secret."""


class SearchBackend(Protocol):
    name: str
    # Whether `search` re-scores with the session vector it is given (a server-side re-rank);
    # when not, the caller may search before it has read the visitor's vector.
    uses_session_vector: bool
    # Whether it filters, sorts, pages (`search`'s filters, sort, offset) and counts `facets`
    # itself; when not, the built-in engine answers such requests.
    navigates: bool

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


def search_query_clean(query: str) -> str:
    """The query as the shop searches it: printable characters, single spaces, bounded length."""
    text = query[: SEARCH_QUERY_MAX * 4]
    if not text.isprintable():  # the common case skips a Python step per character
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())[:SEARCH_QUERY_MAX]


def product_price(product: Product) -> float | None:
    """The product's price as a number, from its optional `price` column ("$1,299.00" read as
    1299.0); None when it has none or it is not a number."""
    raw = str(product.extra.get("price", "")).replace(",", "").lstrip("$€£ ")
    try:
        price = float(raw)
    except ValueError:
        return None
    return price if math.isfinite(price) else None


def possessives_drop(text: str) -> str:
    """`text` without possessive endings ("Men's" -> "Men"), so that "men's" means "men", and
    an audience named "Men's" is as many words as one named "Kids'"."""
    return POSSESSIVE.sub("", text)


def search_words(query: str, *, limit: int = SEARCH_WORDS_MAX) -> list[str]:
    """The words of `query`, lowercased, that every backend searches for.

    Lowercase, because engines spell their operators in capitals (AND, OR, NOT, NEAR): "and"
    is only a word. Punctuation never reaches an engine, so no quote or parenthesis can be
    syntax, and the count is bounded so a 10 KB query costs what a short one does. A
    possessive's "s" is dropped, as "kid's" means what "kids" and "kid" do.
    """
    return [word.lower() for word in WORD.findall(possessives_drop(query))[:limit]]


def items_batched(items: Iterable, size: int) -> Iterator[list]:
    """`items` in lists of `size` (the last one shorter), without reading ahead."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
