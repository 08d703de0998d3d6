"""The shop's pages are Jinja2 templates (`jinja2/`; Django's own engine renders the admin,
the API's docs and the 500 page from `templates/`): a page of 24 product cards, facets and a
taste panel rendered in Django's engine cost 6 ms, five times Jinja2's (docs/tuning.md, "Page
speed").

Here: the environment the pages see (Django's `url` and `static`, the filters they use, Django's
own), and the fragments rendered once and kept (a product's card, its page's catalog part, every
page's head links and header), with their per-request values put in."""

from collections.abc import Callable
from functools import lru_cache, wraps
from types import SimpleNamespace

from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.signals import setting_changed
from django.db.models import Model
from django.dispatch import receiver
from django.middleware.csrf import get_token
from django.template.backends import jinja2 as django_jinja2
from django.template.defaultfilters import floatformat, pluralize, urlencode, yesno
from django.template.loader import get_template
from django.templatetags.static import static
from django.test.signals import template_rendered
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils.functional import lazy
from markupsafe import Markup, escape

import jinja2
from storefront.page_links import QUERY_KEPT_MAX
from storefront.shop.products import PRODUCT_PARTS_KEPT

CARD_TEMPLATE = "storefront/_product_card.html"
# Stand-ins for a card's per-request values while its template renders once; each is then
# replaced by the value, escaped as the template escapes it.
IMPRESSION, POSITION, NOTE = "\x00impression\x00", "\x00position\x00", "\x00note\x00"
SEARCH_TEXT = "\x00search text\x00"
CSRF_INPUT = "\x00csrf input\x00"
CSRF_FIELD = Markup('<input type="hidden" name="csrfmiddlewaretoken" value="%s">')
CARDS_KEPT = 8192  # cards' HTML kept per process: a catalog's worth of products, a few kinds
FACET_PANELS_KEPT = 1024  # facet panels: one per set of values, counts and links
HEADERS_KEPT = 256  # headers: one per set of departments and current one
PERSONA_PICKERS_KEPT = 1024  # persona pickers: one per page address and persona browsed as
STATIC_URLS_KEPT = 256  # static files' addresses: the pages name a few
TASTES_KEPT = 4096  # a visitor's taste drawn: one per liked values, their percentages and views


def environment(**options) -> jinja2.Environment:
    """The pages' environment (settings.TEMPLATES names it). A missing variable or attribute
    reads as empty, as in Django's templates, even along a chain (`persona_visit.slug`)."""
    options["undefined"] = jinja2.ChainableUndefined
    env = jinja2.Environment(**options)
    env.globals.update(
        url=url,
        url_or_blank=url_or_blank,
        static=static_url,
        product_card=product_card,
        product_part=product_part,
        site_head=site_head,
        site_header=site_header,
        persona_picker=persona_picker,
        result_cards=result_cards,
        grid_cards=grid_cards,
        facet_panel=facet_panel,
        taste_bars=taste_bars,
    )
    env.filters.update(
        capfirst=capfirst,
        floatformat=floatformat,
        intcomma=intcomma,
        percent=percent,
        pluralize=pluralize,
        urlencode=urlencode,  # Django's: `urlencode("")` quotes "/" too
        yesno=yesno,
    )
    return env


class Jinja2(django_jinja2.Jinja2):
    """Django's Jinja2 engine, telling Django's test client what each template rendered with
    (as Django's engine does under test), so that tests can read `response.context`."""

    def from_string(self, template_code):
        return Template(self.env.from_string(template_code), self)

    def get_template(self, template_name):
        template = super().get_template(template_name)
        return Template(template.template, self)


class Template(django_jinja2.Template):
    def render(self, context=None, request=None):
        """Django's, but a page's CSRF token is made once, not once per form (each `get_token`
        masks the secret anew: 64 random characters)."""
        context = {} if context is None else context
        if request is not None:
            context["request"] = request
            context["csrf_token"] = _csrf_token_lazy(request)
            context["csrf_input"] = _csrf_input_lazy(request)
            for context_processor in self.backend.template_context_processors:
                context.update(context_processor(request))
        html = self.template.render(context)
        template_rendered.send(sender=self, template=self, context=context)  # none listen: free
        return html


def _csrf_token(request) -> str:
    """`get_token(request)`, once per request."""
    if not hasattr(request, "_csrf_token_shown"):
        request._csrf_token_shown = get_token(request)
    return request._csrf_token_shown


def _csrf_input(request) -> Markup:
    return CSRF_FIELD % _csrf_token(request)  # markupsafe's %: the token escaped


_csrf_token_lazy = lazy(_csrf_token, str)
_csrf_input_lazy = lazy(_csrf_input, Markup)


def url(name: str, **kwargs) -> str:
    """`{% url name key=value %}`, kept per process (a page asks for the same few many times)."""
    return _url(name, tuple(kwargs.items()), get_script_prefix())


@lru_cache(maxsize=8192)
def _url(name: str, kwargs: tuple, prefix: str) -> str:
    return reverse(name, kwargs=dict(kwargs) or None)


def url_or_blank(name: str, **kwargs) -> str:
    """`{% url name key=value as url %}`: "" when nothing matches (a department whose name
    is no URL's)."""
    try:
        return url(name, **kwargs)
    except NoReverseMatch:
        return ""


def capfirst(value) -> str:
    """Django's `capfirst`, without its lazy-text wrapping: the first character upper-cased."""
    text = str(value)
    return text[:1].upper() + text[1:]


def percent(share: float) -> int:
    """`{% widthratio share 1 100 %}`: a share out of 1 as a whole percentage."""
    return round(float(share) * 100)


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


def static_url(path: str) -> str:
    """Django's `static`: the address of a static file, kept per path and script prefix (a
    name the manifest hashes is looked up and its address joined at each call: 2% of a search
    page's samples). Forgotten when the static settings change."""
    return _static_url(path, get_script_prefix())


@_kept_unless_debug(STATIC_URLS_KEPT)
def _static_url(path: str, prefix: str) -> str:
    return static(path)


@receiver(setting_changed)
def _static_urls_forget(setting: str, **kwargs) -> None:
    if setting in {"STORAGES", "STATIC_URL", "STATIC_ROOT", "STATICFILES_DIRS"}:
        _static_url.kept.cache_clear()


def product_card(product, impression=None, position="", note="") -> Markup:
    """`_product_card.html` for `product` (a Product or a ProductCard), with a search's
    `impression` and the result's `position` in its link, and a `note` under its name.

    The card's HTML is rendered once per product as it reads (the fields the card shows) and
    kept: a result page of 24 cards renders none. Keyed by those fields, a product renamed or
    repriced gets a new card at once, nothing to invalidate."""
    html = _card_kept_html(product, bool(impression), note)
    if impression:
        html = html.replace(IMPRESSION, escape(impression.id)).replace(POSITION, escape(position))
    return Markup(html)


def result_cards(rows, impression=None) -> Markup:
    """The `<li>` of each search result's card (`rows`: ResultRows, each with its note), its
    position in the list its link's, in one string: what a loop of `product_card` calls would
    give, without a template call a card (48 of them were a third of the search page's
    rendering)."""
    return _cards_listed([(row.product, row.note) for row in rows], impression)


def grid_cards(products) -> Markup:
    """The `<li>` of each product's card (`_product_grid.html`: the home page's lists, a
    product's similar products, a department's page), as `result_cards` makes them."""
    return _cards_listed([(product, "") for product in products], None)


def _cards_listed(cards: list[tuple[object, str]], impression) -> Markup:
    """A card per (product, note), each found by its product object, which the catalog keeps
    (catalog.selectors' cards per stored fields, the home page's lists, a product's part): a
    kept object's card is not made again from its fields (4 µs a card). A model instance,
    read anew each request, is looked up by its fields, as `product_card` does."""
    with_impression, keep = bool(impression), not settings.DEBUG
    values = {"impression": escape(impression.id) if impression else ""}
    notes = {"": ""}  # each note escaped once: a page names a few viewed products
    items = []
    for position, (product, note) in enumerate(cards):
        values["note"] = notes.get(note) or notes.setdefault(note, escape(note))
        values["position"] = position
        items.append(_object_card(product, with_impression, bool(note), keep) % values)
    return Markup("<li>" + "</li>\n<li>".join(items) + "</li>" if items else "")


def _object_card(product, with_impression: bool, with_note: bool, keep: bool) -> str:
    """The card of `product` as a %-format of its impression, position and note, kept by
    the object's identity when `keep` (a model instance's is not: a page's own read; with
    DEBUG nothing is, and the card's template renders each time)."""
    key = (id(product), with_impression, with_note)
    found = _object_cards.get(key)
    if keep and found is not None and found[0] is product:
        return found[1]
    html = _card_kept_html(product, with_impression, NOTE if with_note else "")
    card = (
        html.replace("%", "%%")
        .replace(IMPRESSION, "%(impression)s")
        .replace(POSITION, "%(position)s")
        .replace(NOTE, "%(note)s")
    )
    if not keep or isinstance(product, Model):
        return card
    if len(_object_cards) >= CARDS_KEPT:
        _object_cards.clear()
    _object_cards[key] = (product, card)  # the object held: while kept, its id names no other
    return card


_object_cards: dict[tuple[int, bool, bool], tuple[object, str]] = {}


def _card_kept_html(product, with_impression: bool, note: str) -> str:
    """A product's kept card with its note in, and the impression and position still to put."""
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
        html = _card(shown, with_impression, bool(note))
    except TypeError:  # a field the catalog holds as a list or a mapping: no key of it
        html = _card.__wrapped__(shown, with_impression, bool(note))
    return html.replace(NOTE, escape(note)) if note else html


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


@_kept_unless_debug(PRODUCT_PARTS_KEPT)
def product_part(part) -> Markup:
    """`_product_part.html` (a product's details, and its similar or related products) for a
    `ProductPart`, rendered once per part and kept: the shop keeps one part per product,
    catalog version and active model."""
    context = {"product": part.product, "similar": part.similar, "related": part.related}
    return Markup(get_template("storefront/_product_part.html").render(context))


def facet_panel(facets) -> Markup:
    """`_facets.html` for `facets` (FacetGroups: values, counts and links), rendered once per
    such panel and kept, unless its links are long (see page_links.QUERY_KEPT_MAX)."""
    longest = max((len(o.query) for group in facets or () for o in group.options), default=0)
    if longest > QUERY_KEPT_MAX:
        return _facet_panel.__wrapped__(facets)
    return _facet_panel(facets)


@_kept_unless_debug(FACET_PANELS_KEPT)
def _facet_panel(facets) -> Markup:
    return Markup(get_template("storefront/_facets.html").render({"facets": facets}))


@_kept_unless_debug(1)
def site_head() -> Markup:
    """The links every page's head holds (icon, stylesheet, script), rendered once."""
    return Markup(get_template("storefront/_site_head.html").render({}))


def site_header(nav_targets, target, search_text) -> Markup:
    """Every page's header (the brand, the search box holding `search_text`, the departments
    of `nav_targets` with `target` the current one), rendered once per departments and
    current one."""
    html = _header(tuple(nav.target for nav in nav_targets or ()), str(target or ""))
    return Markup(html.replace(SEARCH_TEXT, escape(search_text or "")))


@_kept_unless_debug(HEADERS_KEPT)
def _header(targets: tuple[str, ...], target: str) -> str:
    nav_targets = [SimpleNamespace(target=name) for name in targets]
    context = {"nav_targets": nav_targets, "target": target, "search_text": SEARCH_TEXT}
    return get_template("storefront/_site_header.html").render(context)


def persona_picker(personas, persona_visit, next_path: str, csrf_input) -> Markup:
    """`_persona_picker.html`: a form for each of `personas` (`persona_visit`'s pressed), each
    coming back to `next_path`; rendered once per personas, persona and address, the page's
    CSRF field put in."""
    shown = tuple((p.slug, p.name, p.who, p.line, p.query) for p in personas or ())
    html = _persona_picker(shown, str(getattr(persona_visit, "slug", "") or ""), next_path)
    return Markup(html.replace(CSRF_INPUT, str(csrf_input)))


@_kept_unless_debug(PERSONA_PICKERS_KEPT)
def _persona_picker(personas: tuple, visit_slug: str, next_path: str) -> str:
    context = {
        "personas": [
            SimpleNamespace(slug=slug, name=name, who=who, line=line, query=query)
            for slug, name, who, line, query in personas
        ],
        "persona_visit": SimpleNamespace(slug=visit_slug) if visit_slug else None,
        "next_path": next_path,
        "csrf_input": Markup(CSRF_INPUT),
    }
    return get_template("storefront/_persona_picker.html").render(context)


def taste_bars(profile) -> Markup:
    """`_taste_bars.html`: the visitor's affinity drawn, a bar per liked value, rendered once
    per values, whole percentages (what the bars show) and number of views, and kept: the
    search page drew it at every request (7% of its worker's samples)."""
    likings = tuple(
        (facet, tuple((liking.value, percent(liking.share)) for liking in values))
        for facet, values in profile.affinity.items()
    )
    return Markup(_taste_bars(likings, len(profile.viewed)))


@_kept_unless_debug(TASTES_KEPT)
def _taste_bars(likings: tuple, viewed: int) -> str:
    affinity = {
        facet: [SimpleNamespace(value=value, percent=shown) for value, shown in values]
        for facet, values in likings
    }
    context = {"affinity": affinity, "viewed": viewed}
    return get_template("storefront/_taste_bars.html").render(context)


# The caches, by name (tests clear and count them).
_card_kept, _part_kept = _card.kept, product_part.kept
_site_head_kept, _header_kept = site_head.kept, _header.kept
_persona_picker_kept = _persona_picker.kept
_facet_panel_kept = _facet_panel.kept
_taste_bars_kept = _taste_bars.kept
_static_url_kept = _static_url.kept
