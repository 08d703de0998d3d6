"""Reads from the catalog for the shop's pages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet

from .models import Product

SEARCH_QUERY_MAX = 200
SEARCH_TERMS_MAX = 8


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


def categories_for_target(target: str) -> list[str]:
    """The distinct `category` values of a target's products, for filtering its listing."""
    values = Product.objects.filter(target=target).values_list("extra__category", flat=True)
    return sorted({value for value in values.distinct() if value})


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


def products_popular(*, limit: int = 12) -> list[Product]:
    """The most viewed products (cached for a few minutes), or the first ones of the catalog."""
    from personalization.selectors import skus_most_viewed

    skus = cache.get_or_set(
        "catalog:popular-skus", lambda: skus_most_viewed(limit=limit * 2), timeout=300
    )
    products = products_by_skus(skus)[:limit]
    if len(products) < limit:
        have = {p.sku for p in products}
        products += [p for p in Product.objects.all()[: limit * 2] if p.sku not in have]
    return products[:limit]


def search_query_clean(query: str) -> str:
    """The query as the shop searches it: printable characters, single spaces, bounded length."""
    printable = "".join(ch if ch.isprintable() else " " for ch in query[: SEARCH_QUERY_MAX * 4])
    return " ".join(printable.split())[:SEARCH_QUERY_MAX]


def products_search(query: str) -> QuerySet[Product]:
    """Products whose name has a word starting with each query word, or whose target is it.

    Plain and unpersonalized. Words are matched as text, never as syntax: quotes and operators
    are just characters. "men" finds "Men's" but not "Women's".
    """
    terms = re.findall(r"\w+", search_query_clean(query).lower())[:SEARCH_TERMS_MAX]
    if not terms:
        return Product.objects.none()
    condition = Q()
    for term in terms:
        stem = term[:-1] if len(term) > 3 and term.endswith("s") else term
        condition &= (
            Q(name__istartswith=stem) | Q(name__icontains=" " + stem) | Q(target__iexact=term)
        )
    return Product.objects.filter(condition)
