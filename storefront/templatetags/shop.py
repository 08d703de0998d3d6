"""Template tags and filters of the shop."""

from collections.abc import Callable
from functools import lru_cache, wraps
from types import SimpleNamespace

from django import template
from django.conf import settings
from django.template.loader import get_template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from storefront.shop.products import PRODUCT_PARTS_KEPT

register = template.Library()


def _kept_unless_debug(maxsize: int) -> Callable:
    """Keep what a fragment's renderer returns per process (least recently used out past
    `maxsize`), by its arguments; with DEBUG, render each time, so that a template edited
    shows at the next request. The cache is the function's `kept`."""

    def decorate(render: Callable) -> Callable:
        kept = lru_cache(maxsize=maxsize)(render)

        @wraps(render)
        def rendered(*key):
            return render(*key) if settings.DEBUG else kept(*key)

        rendered.kept = kept
        return rendered

    return decorate


CARD_TEMPLATE = "storefront/_product_card.html"
# Stand-ins for a card's per-request values while its template renders once; each is then
# replaced by the value, escaped as the template escapes it.
IMPRESSION, POSITION, NOTE = "\x00impression\x00", "\x00position\x00", "\x00note\x00"
SEARCH_TEXT = "\x00search text\x00"
CARDS_KEPT = 8192  # cards' HTML kept per process: a catalog's worth of products, a few kinds
HEADERS_KEPT = 256  # headers: one per set of departments and current one


@register.filter
def get_item(mapping: dict, key):
    """`mapping[key]`, or None: for dictionaries keyed by SKU."""
    return mapping.get(key) if mapping else None


@register.simple_tag
def product_card(product, impression=None, position="", note="") -> SafeString:
    """`_product_card.html` for `product` (a Product or a ProductCard), with a search's
    `impression` and the result's `position` in its link, and a `note` under its name.

    The card's HTML is rendered once per product as it reads (the fields the card shows) and
    kept: a result page of 24 cards renders none. Keyed by those fields, a product renamed or
    repriced gets a new card at once, nothing to invalidate."""
    extra = product.extra
    shown = (
        product.sku,
        product.name,
        product.target,
        product.image_url,
        extra.get("color", ""),
        extra.get("price", ""),
    )
    try:
        html = _card(shown, bool(impression), bool(note))
    except TypeError:  # a field the catalog holds as a list or a mapping: no key of it
        html = _card.__wrapped__(shown, bool(impression), bool(note))
    if impression:
        html = html.replace(IMPRESSION, escape(impression.id)).replace(POSITION, escape(position))
    if note:
        html = html.replace(NOTE, escape(note))
    return mark_safe(html)


@_kept_unless_debug(CARDS_KEPT)
def _card(shown: tuple, with_impression: bool, with_note: bool) -> str:
    sku, name, target, image_url, color, price = shown
    extra = {"color": color, "price": price}
    product = SimpleNamespace(sku=sku, name=name, target=target, image_url=image_url, extra=extra)
    return get_template(CARD_TEMPLATE).render(
        {
            "product": product,
            "impression": SimpleNamespace(id=IMPRESSION) if with_impression else None,
            "position": POSITION,
            "note": NOTE if with_note else "",
        }
    )


@register.simple_tag
@_kept_unless_debug(PRODUCT_PARTS_KEPT)
def product_part(part) -> SafeString:
    """`_product_part.html` (a product's details, and its similar or related products) for a
    `ProductPart`, rendered once per part and kept: the shop keeps one part per product,
    catalog version and active model."""
    context = {"product": part.product, "similar": part.similar, "related": part.related}
    return mark_safe(get_template("storefront/_product_part.html").render(context))


@register.simple_tag
@_kept_unless_debug(1)
def site_head() -> SafeString:
    """The links every page's head holds (icon, stylesheet, script), rendered once."""
    return mark_safe(get_template("storefront/_site_head.html").render({}))


@register.simple_tag
def site_header(nav_targets, target, search_text) -> SafeString:
    """Every page's header (the brand, the search box holding `search_text`, the departments
    of `nav_targets` with `target` the current one), rendered once per departments and
    current one."""
    html = _header(tuple(nav.target for nav in nav_targets or ()), str(target or ""))
    return mark_safe(html.replace(SEARCH_TEXT, escape(search_text or "")))


@_kept_unless_debug(HEADERS_KEPT)
def _header(targets: tuple[str, ...], target: str) -> str:
    nav_targets = [SimpleNamespace(target=name) for name in targets]
    context = {"nav_targets": nav_targets, "target": target, "search_text": SEARCH_TEXT}
    return get_template("storefront/_site_header.html").render(context)


# The caches, by name (tests clear and count them).
_card_kept, _part_kept = _card.kept, product_part.kept
_site_head_kept, _header_kept = site_head.kept, _header.kept
