"""Products as the shop shows them: the front page, a product's page, recommendations,
similar and popular products, listings by target."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from django.db.models import QuerySet

from catalog.changes import catalog_label
from catalog.models import Product
from catalog.selectors import (
    ProductCard,
    TargetSummary,
    product_exists,
    products_by_skus,
    products_for_target,
    products_related,
    targets_list,
)
from common.kept_cache import cache_get_or_set_kept
from personalization.events import product_view_send
from personalization.selectors import skus_most_viewed
from personalization.serving import model_active, recommender_active
from personalization.state import Visitor, VisitorState, visitor_state
from personalization.view_limits import ViewsLimited

from .visitors import Persona, Profile, personas_available, visitor_profile

POPULAR_CACHE_SECONDS = 300
POPULAR_KEPT_SECONDS = 60  # each process's copy of them
RECENTLY_VIEWED_SHOWN = 8
SIMILAR_SHOWN = 8
PRODUCT_PARTS_KEPT = 4096  # products' catalog parts kept per process (a few kilobytes each)
PRODUCT_CARDS_KEPT = 50_000  # products' cards kept per process (a few hundred bytes each)
RECOMMENDATIONS_KEPT = 4096  # the model's answers kept per process, by session
RECOMMENDED_SHOWN = 12
VIEWS_LIMITED = (
    "You are viewing products faster than the shop records views, so this one was not recorded."
)


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
    scored = _recommended(model.version_id, tuple(state.skus), limit)
    return Suggestions(scored, bool(scored), list(state.notices))


@lru_cache(maxsize=RECOMMENDATIONS_KEPT)
def _recommended(version: int, skus: tuple[str, ...], limit: int) -> list:
    """The active model's answer for a session, kept per process by the model's version and
    the session's views (what it answers from): a visitor coming back to a page with no view
    since gets it again without asking (4 ms with the learned ranking); their next view is
    a new question. Keyed by the version, not the model: a replaced model is not kept alive."""
    model = model_active()
    if model is None:
        return []
    return model.recommender.recommend(list(skus), k=limit, exclude=set(skus))


@dataclass(frozen=True)
class ScoredCard:
    card: ProductCard
    score: float | None  # None: not scored for the visitor (a popular product)


@dataclass(frozen=True)
class Recommendations:
    """What the shop recommends to a visitor: personalized, or the most viewed products."""

    personalized: bool
    cards: list[ScoredCard]
    notices: list[str]


def recommendations_scored(state: VisitorState, *, limit: int, label: str = "") -> Recommendations:
    """`limit` products for a visitor in `state`, none they viewed, with their scores; the most
    viewed products (unscored) for a visitor without views, or without a model."""
    suggestions = recommendations_for_visitor(state, limit=limit)
    if suggestions.personalized:
        scores = dict(suggestions.scored)
        kept = product_cards(list(scores), label=label)
        cards = [ScoredCard(card, scores[card.sku]) for card in kept]
    else:
        cards = [ScoredCard(card, None) for card in popular_cards(limit=limit, label=label)]
    return Recommendations(suggestions.personalized, cards, suggestions.notices)


def products_similar(sku: str, *, limit: int) -> list[tuple[str, float]]:
    """(sku, cosine) of the products nearest to `sku` in the embedding space, best first;
    empty without a model or a vector for `sku`."""
    recommender = recommender_active()
    if recommender is None:
        return []
    return recommender.similar(sku, k=limit)


def products_similar_scored(sku: str, *, limit: int) -> list[ScoredCard]:
    """The products nearest to `sku`, each with its cosine to it (see `products_similar`)."""
    similarities = dict(products_similar(sku, limit=limit))
    products = products_by_skus(list(similarities))
    return [ScoredCard(ProductCard.from_product(p), similarities[p.sku]) for p in products]


def products_popular(*, limit: int = 12) -> list[Product]:
    """The most viewed products (cached for a few minutes), or the first ones of the catalog."""
    products = products_by_skus(_popular_skus(limit))[:limit]
    if len(products) < limit:
        have = {p.sku for p in products}
        products += [p for p in Product.objects.all()[: limit * 2] if p.sku not in have]
    return products[:limit]


def popular_cards(*, limit: int, label: str = "") -> list[ProductCard]:
    """`products_popular` as cards, kept (see `product_cards`) while the catalog has them."""
    label = label or catalog_label()
    popular = product_cards(_popular_skus(limit), label=label)[:limit]
    if len(popular) < limit:  # too few views yet: the catalog's first products after them
        have = {card.sku for card in popular}
        first = _first_skus(label, limit * 2)
        popular += product_cards([sku for sku in first if sku not in have], label=label)
    return popular[:limit]


@lru_cache(maxsize=4)
def _first_skus(label: str, count: int) -> list[str]:
    return list(Product.objects.values_list("sku", flat=True)[:count])


def _popular_skus(limit: int) -> list[str]:
    """The most viewed products' SKUs, twice `limit` of them (cached for a few minutes, and
    kept a minute by each process: the home page asked the cache at every request)."""
    return cache_get_or_set_kept(
        f"catalog:popular-skus:{limit}",
        lambda: skus_most_viewed(limit=limit * 2),
        timeout=POPULAR_CACHE_SECONDS,
        kept_for=POPULAR_KEPT_SECONDS,
    )


class _CardsKept:
    """Product cards by SKU, kept per process for one catalog version at a time (a new
    version starts afresh), `PRODUCT_CARDS_KEPT` at most: the products a page lists that are
    not the catalog's part of a product page (recommended, popular, recently viewed)."""

    def __init__(self) -> None:
        self.label, self.cards = "", {}

    def read(self, skus: list[str], label: str) -> list[ProductCard]:
        if label != self.label or len(self.cards) > PRODUCT_CARDS_KEPT:
            self.label, self.cards = label, {}
        cards = self.cards
        missing = [sku for sku in skus if sku not in cards]
        if missing:
            found = {p.sku: ProductCard.from_product(p) for p in products_by_skus(missing)}
            cards.update({sku: found.get(sku) for sku in missing})  # None: not in the catalog
        return [cards[sku] for sku in skus if cards.get(sku) is not None]


_cards_kept = _CardsKept()


def product_cards(skus: list[str], *, label: str = "") -> list[ProductCard]:
    """The cards of `skus`, in that order, skipping SKUs not in the catalog: one query (the
    catalog's version, unless its `label` is given) when every one is kept."""
    if not skus:
        return []
    return _cards_kept.read(skus, label or catalog_label())


@lru_cache(maxsize=4)
def _targets_kept(label: str) -> list[TargetSummary]:
    return targets_list()


@dataclass(frozen=True)
class HomePage:
    targets: list[TargetSummary]
    featured: list[ProductCard]  # the most viewed
    recommended: list[ProductCard]  # for this visitor (none without views or a model)
    recommended_personalized: bool
    recently_viewed: list[ProductCard]
    profile: Profile
    personas: list[Persona]
    notices: list[str]


def home_page(visitor: Visitor) -> HomePage:
    """The front page for `visitor`: targets, popular products, what the shop recommends to
    them and thinks they like, what they viewed, and the personas to browse as."""
    state = visitor_state(visitor)
    label = catalog_label()  # read once: every list below is kept per catalog version
    recommendations = recommendations_scored(state, limit=RECOMMENDED_SHOWN, label=label)
    shown = [scored.card for scored in recommendations.cards]
    personalized = recommendations.personalized
    recent = state.viewed_recently[:RECENTLY_VIEWED_SHOWN]
    return HomePage(
        targets=_targets_kept(label),
        featured=popular_cards(limit=RECOMMENDED_SHOWN, label=label) if personalized else shown,
        recommended=shown if personalized else [],
        recommended_personalized=personalized,
        recently_viewed=product_cards(recent, label=label),
        profile=visitor_profile(state),
        personas=personas_available(),
        notices=recommendations.notices,
    )


@dataclass(frozen=True, eq=False)  # one object per key: compared and hashed as itself
class ProductPart:
    """What a product's page shows of the catalog and the model: the same for every visitor
    while neither changes, so kept per process by `key` (a new catalog version or active
    model makes a new key: nothing to invalidate)."""

    key: tuple[str, str, int | None]  # (sku, the catalog's version, the active model's)
    product: Product
    similar: list[Product]  # nearest in the embedding space
    related: list[Product]  # same category and target, when there is no model to ask


@dataclass(frozen=True)
class ProductPage:
    part: ProductPart
    recently_viewed: list[ProductCard]  # the visitor's, this product left out
    notices: list[str]

    @property
    def product(self) -> Product:
        return self.part.product


def product_page(visitor: Visitor, sku: str, *, record_view: bool) -> ProductPage | None:
    """A product's page for `visitor`, recording their view when `record_view` (a person's,
    not a bot's); None when the catalog has no product `sku`. A view over the flood limits is
    shown all the same, not recorded, with a notice that says so.

    The view is sent before the page's catalog part is read and answered after: its round trip
    overlaps that part's query. A product known to exist (kept a minute: see product_exists)
    that another process deleted meanwhile can have its view recorded, as the API's can."""
    tracking = product_view_send(visitor, sku) if record_view and product_exists(sku) else None
    try:
        part = product_part(sku)
        if part is None:
            return None
        state, notices = None, []
        if tracking is not None:
            try:
                tracked = tracking.tracked()
                state, notices = tracked.state, tracked.notices
            except ViewsLimited:
                notices = [VIEWS_LIMITED]
    finally:
        if tracking is not None:
            tracking.close()
    if state is None:
        state = visitor_state(visitor)
        notices += state.notices
    recent = [s for s in state.viewed_recently if s != sku]
    return ProductPage(
        part=part,
        recently_viewed=product_cards(recent[:RECENTLY_VIEWED_SHOWN]),
        notices=notices,
    )


def product_part(sku: str) -> ProductPart | None:
    """The catalog's and the model's part of `sku`'s page (None: no such product), read once
    per catalog version and active model: one query (the catalog's version) when kept."""
    model = model_active()
    return _product_part_read((sku, catalog_label(), model.version_id if model else None))


@lru_cache(maxsize=PRODUCT_PARTS_KEPT)
def _product_part_read(key: tuple[str, str, int | None]) -> ProductPart | None:
    sku = key[0]
    product = Product.objects.filter(sku=sku).first()
    if product is None:
        return None
    similar = products_by_skus([other for other, _ in products_similar(sku, limit=SIMILAR_SHOWN)])
    return ProductPart(key, product, similar, [] if similar else products_related(product))


def products_listed(target: str, *, category: str = "") -> QuerySet[Product] | None:
    """The products for `target` (of `category`, when given), to page through; None when the
    shop has nothing for `target` at all."""
    products = products_for_target(target, category=category)
    if not category and not products.exists():
        return None
    return products
