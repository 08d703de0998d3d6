"""The product space as the shop shows it: the map, a visitor's path across it, nearest
neighbours and analogies of products (with their cards) or of words."""

from __future__ import annotations

from dataclasses import dataclass

from catalog.models import Product
from catalog.selectors import ProductCard, products_by_skus
from personalization.models import EmbeddingVersion
from personalization.space import (
    Exploration,
    SpaceUnavailable,
    analogy,
    explore,
    map_missing_message,
    neighbours,
    space_model,
    space_session,
)
from personalization.state import Visitor, visitor_state

SPACE_KINDS = tuple(EmbeddingVersion.Kind.values)  # product (keys are SKUs) or word
WORD = EmbeddingVersion.Kind.WORD


@dataclass(frozen=True)
class MapPage:
    version: int | None  # the active product model's, None without one
    notices: list[str]  # why there is no map to draw, when there is none


def map_page() -> MapPage:
    """The map page's model and what stops it from drawing (its points come from the API)."""
    try:
        model = space_model()
    except SpaceUnavailable as exc:
        return MapPage(None, [str(exc)])
    if model.projection is None:
        return MapPage(model.version_id, [map_missing_message(model.version_id)])
    return MapPage(model.version_id, [])


@dataclass(frozen=True)
class ExplorerPage:
    found: Exploration
    products: dict[str, Product]  # SKU -> product, of every product the page names


def space_explorer_page(
    kind: str, *, of: str | None, a: str | None, b: str | None, c: str | None
) -> ExplorerPage:
    """Neighbours of `of` and the analogy a : b = c : ? (see personalization.space.explore;
    None: not asked), with the products they name."""
    found = explore(kind, of=of, a=a, b=b, c=c)
    if kind == WORD:
        return ExplorerPage(found, {})
    terms = found.analogy_terms or ()
    keys = [key for key, _ in (found.neighbours or []) + (found.analogy or [])]
    keys += [found.neighbours_of or "", *(term.key for term in terms)]
    products = products_by_skus(list(dict.fromkeys(key for key in keys if key)))
    return ExplorerPage(found, {product.sku: product for product in products})


@dataclass(frozen=True)
class SpaceAnswer:
    """A product (its card) or, for the word model, a word; and its score."""

    score: float
    card: ProductCard | None = None
    word: str | None = None


def neighbours_in_space(of: str, *, kind: str, limit: int) -> list[SpaceAnswer]:
    """The nearest products (or words) to `of`; SpaceUnavailable or NotInSpace when there is
    no model, or `of` is not in it."""
    return _answers(neighbours(of, kind=kind, limit=limit), kind)


def analogy_in_space(a: str, b: str, c: str, *, kind: str, limit: int) -> list[SpaceAnswer]:
    """What `c` is to as `a` is to `b`, best first (errors as `neighbours_in_space`)."""
    return _answers(analogy(a, b, c, kind=kind, limit=limit), kind)


def space_session_of(visitor: Visitor) -> dict:
    """The visitor's viewed products on the map, in order, and their session vector's place
    (see personalization.space.space_session)."""
    return space_session(visitor_state(visitor))


def _answers(found: list[tuple[str, float]], kind: str) -> list[SpaceAnswer]:
    if kind == WORD:
        return [SpaceAnswer(score, word=word) for word, score in found]
    products = {p.sku: p for p in products_by_skus([key for key, _ in found])}
    return [
        SpaceAnswer(score, card=ProductCard.from_product(products[key]))
        for key, score in found
        if key in products
    ]
