"""Reads from the catalog for the shop's pages."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache

from django.db import connection
from django.db.models import Count, QuerySet

from common.kept_cache import kept_when_true

from .models import Product, image_url_for
from .search import SearchHit, products_stored
from .search.base import facet_values

CARDS_KEPT = 20_000  # product cards made from an engine's stored fields, kept per process
EXISTS_KEPT_SECONDS = 60.0  # a product found stays found this long for a process


@dataclass(frozen=True)
class ProductCard:
    """A product as a result list shows it, on a page (as `product` in its templates) or in
    the API (`as_json`)."""

    sku: str
    name: str
    target: str
    image: str  # as the catalog holds it: a URL or a media path ("" for none)
    extra: Mapping[str, str] = field(default_factory=dict)  # category, color, price...

    @classmethod
    def from_product(cls, product: Product) -> ProductCard:
        return cls(product.sku, product.name, product.target, product.image, product.extra)

    @classmethod
    def from_hit(cls, hit: SearchHit) -> ProductCard:
        """From the display fields an engine stored (`hit.fields` is not None): made once per
        product and stored fields, and kept (parsing them was most of a search page's cards:
        48 JSON documents at every request). Shared: nobody changes a card."""
        return _card_of_display(hit.sku, hit.display)

    @property
    def image_url(self) -> str:
        return image_url_for(self.image)

    def as_json(self, **fields) -> dict:
        return {
            "sku": self.sku,
            "name": self.name,
            "target": self.target,
            "image": self.image_url,
            **fields,
        }


@lru_cache(maxsize=CARDS_KEPT)
def _card_of_display(sku: str, display: str) -> ProductCard:
    fields = json.loads(display)
    return ProductCard(sku, fields["name"], fields["target"], fields["image"], fields["extra"])


def product_exists(sku: str) -> bool:
    """Whether the catalog has a product `sku`, on the path of every view an API client
    records. A product found is kept so by this process for EXISTS_KEPT_SECONDS (the query
    was 6% of POST /api/events/ in a profile, with SQLite's locks); one not found is asked
    again each time, so a new product is known at once. One deleted by another process can
    still be recorded for that long (this process's own catalog writes forget what it kept)."""
    return kept_when_true(
        f"catalog:product-exists:{sku}", lambda: _product_found(sku), kept_for=EXISTS_KEPT_SECONDS
    )


def _product_found(sku: str) -> bool:
    """One primary-key lookup, in SQL written once (building the ORM's query cost more than
    running it)."""
    with connection.cursor() as cursor:
        cursor.execute(_product_exists_sql(), [sku])
        return cursor.fetchone() is not None


@cache
def _product_exists_sql() -> str:
    quote = connection.ops.quote_name
    table, column = Product._meta.db_table, Product._meta.pk.column
    return f"SELECT 1 FROM {quote(table)} WHERE {quote(column)} = %s"


def product_cards(
    skus: Iterable[str],
    *,
    known: Iterable[SearchHit] = (),
    stored: Callable[[list[str]], list[SearchHit]] = products_stored,
) -> dict[str, ProductCard]:
    """sku -> its card, from the display fields the search engine stored in `known` hits or
    the built-in index (asked through `stored`), else from the catalog in one query; SKUs
    found in none of them are left out. Like the search results themselves, this trusts the
    index, which catalog loads and admin edits keep current."""
    wanted = list(dict.fromkeys(skus))
    found = {hit.sku: hit for hit in known if hit.display is not None}
    unknown = [sku for sku in wanted if sku not in found]
    if unknown:
        found.update((hit.sku, hit) for hit in stored(unknown))
    cards = {sku: ProductCard.from_hit(found[sku]) for sku in wanted if sku in found}
    missing = [sku for sku in wanted if sku not in cards]
    for product in products_by_skus(missing) if missing else ():
        cards[product.sku] = ProductCard.from_product(product)
    return {sku: cards[sku] for sku in wanted if sku in cards}


@dataclass(frozen=True)
class TargetSummary:
    target: str
    products: int


def targets_list() -> list[TargetSummary]:
    """Every target with its product count, largest first."""
    rows = (
        Product.objects.exclude(target="")
        .values("target")
        .annotate(products=Count("sku"))
        .order_by("-products", "target")
    )
    return [TargetSummary(row["target"], row["products"]) for row in rows]


def products_for_target(target: str, *, category: str = "") -> QuerySet[Product]:
    products = Product.objects.filter(target=target)
    if category:
        products = products.filter(extra__category=category)
    return products


def categories_for_target(target: str) -> list[tuple[str, int]]:
    """The `category` values of a target's products with how many products each has, most
    first: the facet that filters its listing."""
    values = Product.objects.filter(target=target).values_list("extra__category", flat=True)
    return facet_values(Counter(values).items())


def products_by_skus(skus: list[str]) -> list[Product]:
    """The products for `skus`, in that order, skipping SKUs no longer in the catalog."""
    found = Product.objects.order_by().in_bulk(skus)  # no ORDER BY: the order is `skus`
    return [found[sku] for sku in skus if sku in found]


def products_related(product: Product, *, limit: int = 8) -> list[Product]:
    """Other products of the same category and target (the shop's plain 'more like this')."""
    related = Product.objects.exclude(sku=product.sku).filter(target=product.target)
    if product.category:
        related = related.filter(extra__category=product.category)
    return list(related[:limit])
