"""What every search engine shares: the hit it returns, the interface it implements, the error
it raises, the catalog state an index records, and the words of a query as all of them search
it."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import islice
from typing import Protocol

import numpy as np

from catalog.changes import CatalogState
from catalog.models import Product

SEARCH_QUERY_MAX = 200
SEARCH_WORDS_MAX = 32
WORD = re.compile(r"[^\W_]+")  # letters and digits: everything else separates words
POSSESSIVE = re.compile(r"(?<=\w)['\u2019]s\b", re.IGNORECASE)  # "kid's" is searched as "kid"

# SKU -> unit-length product vector. The provider's mapping names its model in a `version`
# attribute (a string), which indexes that store vectors record.
Vectors = Mapping[str, np.ndarray]
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


class ReadHits(list):
    """Hits of a search the engine read otherwise than typed: `understood` is what it searched
    for instead ("shoes" for "sheos", "tee" for "tshirt"), for a "Showing results for" line;
    None when it searched the words as typed. Engines that never say return a plain list."""

    def __init__(self, hits: Iterable[SearchHit], *, understood: str | None = None):
        super().__init__(hits)
        self.understood = understood


class KeptHits(ReadHits):
    """Hits of an answer the engine keeps (see the built-in engine's answers). `key` names the
    answer: equal for the same search of an unchanged index, never for another, so a caller
    may keep what it derives from the hits alone under it. Engines that keep nothing return a
    plain list."""

    def __init__(self, hits: Iterable[SearchHit], key: Hashable, *, understood: str | None = None):
        super().__init__(hits, understood=understood)
        self.key = key


def vectors_version(vectors: Vectors | None) -> str | None:
    """The model `vectors` come from (None: no vectors, or of no named model)."""
    return None if vectors is None else getattr(vectors, "version", None)


AHEAD_MAX = 1000  # changes recorded past a missing one; more are dropped (claimed less)


@dataclass(frozen=True)
class IndexState:
    """The catalog state an index holds, recorded with the index: every change of the catalog
    `catalog` up to `version`, and those in `ahead`, which reached it before an earlier one
    did; for engines that store vectors, those of the model `vectors`.

    An index records only what it is known to hold: a state is written after the writes it
    describes, so a crash in between leaves an index that claims less than it holds (and is
    rebuilt), never more.
    """

    catalog: str  # the catalog's token ("": records nothing)
    version: int
    ahead: tuple[int, ...] = ()
    vectors: str | None = None

    @classmethod
    def built(cls, state: CatalogState, *, vectors: str | None = None) -> IndexState:
        """The state of an index built from the catalog as it was at `state` (read before its
        products: later changes may be in it too, which only makes it claim less)."""
        return cls(state.token, state.version, (), vectors)

    def applied(self, change: CatalogState) -> IndexState:
        """This state once `change` (a version of the catalog, with the products it changed)
        is in the index too. A change of another catalog changes nothing; one that comes
        before an earlier change is noted in `ahead` until that one arrives."""
        if change.token != self.catalog or change.version <= self.version:
            return self
        ahead = {*self.ahead, change.version}
        version = self.version
        while version + 1 in ahead:
            version += 1
            ahead.discard(version)
        return replace(self, version=version, ahead=tuple(sorted(ahead)[:AHEAD_MAX]))

    def behind(self, state: CatalogState) -> str | None:
        """How this index differs from the catalog at `state` (None: it holds every change)."""
        if not self.catalog:
            return "it records no catalog state"
        if self.catalog != state.token:
            return f"it was built from another catalog ({self.catalog[:8]}, not {state.token[:8]})"
        if self.version != state.version:
            return f"it holds catalog version {self.version}, not {state.version}"
        return None

    def as_json(self) -> dict:
        data = {"catalog": self.catalog, "version": self.version, "ahead": list(self.ahead)}
        if self.vectors is not None:  # (no nulls: Elasticsearch's _meta holds it too)
            data["vectors"] = self.vectors
        return data

    @classmethod
    def from_json(cls, data: object) -> IndexState:
        """The state recorded as `data`; UNRECORDED when it is missing or malformed."""
        try:
            return cls(
                str(data["catalog"]),
                int(data["version"]),
                tuple(int(v) for v in data.get("ahead") or ()),
                None if data.get("vectors") is None else str(data["vectors"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return UNRECORDED


UNRECORDED = IndexState("", -1)  # an index that records no state: built before states were


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
    # Whether its index holds product vectors (so a new active model makes it stale).
    stores_vectors: bool

    def search(
        self, query: str, *, limit: int = 50, session_vector: np.ndarray | None = None
    ) -> list[SearchHit]:
        """The best `limit` products for `query`, best first. The query's words are searched
        as plain words: quotes, operators and field names in it are never syntax."""
        ...

    def index_rebuild(
        self,
        products: Iterable[Product],
        *,
        vectors: Vectors | None = None,
        state: IndexState | None = None,
    ) -> int:
        """Replace the whole index with `products` (searches keep working meanwhile), recording
        `state` with it (None: records none); return how many were indexed."""
        ...

    def index_update(
        self,
        products: Iterable[Product],
        *,
        deleted_skus: Iterable[str] = (),
        vectors: Vectors | None = None,
        change: CatalogState | None = None,
    ) -> None:
        """Add or replace `products` and remove `deleted_skus` in the current index; then
        record that it holds `change` too (the catalog version these products are of)."""
        ...

    def index_state(self) -> IndexState | None:
        """The state the live index records (UNRECORDED: none); None when there is no index.
        Raises SearchUnavailable when the engine cannot be asked."""
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


def search_exact(query: str) -> bool:
    """Whether `query` asks for its words as typed: in double quotes, as search engines
    read them, with no synonym or correction."""
    text = query.strip()
    return len(text) > 2 and text[0] == text[-1] == '"'


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
