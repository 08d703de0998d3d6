"""Template tags and filters of the shop."""

from functools import lru_cache
from types import SimpleNamespace

from django import template
from django.conf import settings
from django.template.loader import get_template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

CARD_TEMPLATE = "storefront/_product_card.html"
# Stand-ins for a card's per-request values while its template renders once; each is then
# replaced by the value, escaped as the template escapes it.
IMPRESSION, POSITION, NOTE = "\x00impression\x00", "\x00position\x00", "\x00note\x00"
SEARCH_TEXT = "\x00search text\x00"
CARDS_KEPT = 8192  # cards' HTML kept per process: a catalog's worth of products, a few kinds
PARTS_KEPT = 4096  # products' pages' catalog parts (storefront.shop.PRODUCT_PARTS_KEPT)


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
    repriced gets a new card at once, nothing to invalidate. With DEBUG, rendered each time
    (a template edited shows at the next request)."""
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
        html = _card_html(shown, bool(impression), bool(note))
    except TypeError:  # a field the catalog holds as a list or a mapping: no key of it
        html = _card_render(shown, bool(impression), bool(note))
    if impression:
        html = html.replace(IMPRESSION, escape(impression.id)).replace(POSITION, escape(position))
    if note:
        html = html.replace(NOTE, escape(note))
    return mark_safe(html)


def _card_html(shown: tuple, with_impression: bool, with_note: bool) -> str:
    if settings.DEBUG:
        return _card_render(shown, with_impression, with_note)
    return _card_kept(shown, with_impression, with_note)


def _card_render(shown: tuple, with_impression: bool, with_note: bool) -> str:
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


_card_kept = lru_cache(maxsize=CARDS_KEPT)(_card_render)


@register.simple_tag
def product_part(part) -> SafeString:
    """`_product_part.html` (a product's details, and its similar or related products) for a
    `ProductPart`, rendered once per part and kept: the shop keeps one part per product,
    catalog version and active model. With DEBUG, rendered each time."""
    if settings.DEBUG:
        return _part_render(part)
    return _part_kept(part)


def _part_render(part) -> SafeString:
    context = {"product": part.product, "similar": part.similar, "related": part.related}
    return mark_safe(get_template("storefront/_product_part.html").render(context))


_part_kept = lru_cache(maxsize=PARTS_KEPT)(_part_render)


@register.simple_tag
def site_head() -> SafeString:
    """The links every page's head holds (icon, stylesheet, script), rendered once."""
    if settings.DEBUG:
        return mark_safe(get_template("storefront/_site_head.html").render({}))
    return _site_head_kept()


@lru_cache(maxsize=1)
def _site_head_kept() -> SafeString:
    return mark_safe(get_template("storefront/_site_head.html").render({}))


@register.simple_tag
def site_header(nav_targets, target, search_text) -> SafeString:
    """Every page's header (the brand, the search box holding `search_text`, the departments
    of `nav_targets` with `target` the current one), rendered once per departments and
    current one. With DEBUG, rendered each time."""
    key = (tuple(nav.target for nav in nav_targets or ()), str(target or ""))
    html = _header_render(key) if settings.DEBUG else _header_kept(key)
    return mark_safe(html.replace(SEARCH_TEXT, escape(search_text or "")))


def _header_render(key: tuple[tuple[str, ...], str]) -> str:
    targets, target = key
    nav_targets = [SimpleNamespace(target=name) for name in targets]
    context = {"nav_targets": nav_targets, "target": target, "search_text": SEARCH_TEXT}
    return get_template("storefront/_site_header.html").render(context)


_header_kept = lru_cache(maxsize=256)(_header_render)
