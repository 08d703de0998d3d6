"""Fragments rendered once and kept: the product card (once per product as it reads), every
page's head links and header (once per departments and current one): the HTML of their
templates, with the per-request values put in."""

from types import SimpleNamespace

import pytest
from django.template import engines
from django.template.loader import render_to_string
from django.test import override_settings

from catalog.selectors import ProductCard, TargetSummary
from storefront import templating as tags

PRODUCTS = [
    ProductCard(
        "RUN-1", "Men's <Fast> Shoe & Co", "men", "images/a.png", {"color": "Red", "price": "79.5"}
    ),
    ProductCard("X-2", "Plain", "", "", {}),
    ProductCard("X-3", "Priced", "women", "https://img.example/x.png", {"price": 12, "size": "M"}),
]
CONTEXTS = [
    {},
    {"note": "Because you viewed <b>Sam's</b> shoe"},
    {"impression": SimpleNamespace(id="imp-1&"), "position": 3},
    {"impression": SimpleNamespace(id="imp-2"), "position": 0, "note": "You viewed this"},
]
TAG = "{{ product_card(product, impression=impression, position=position, note=note) }}"


def by_include(product, context: dict) -> str:
    return render_to_string("storefront/_product_card.html", {"product": product, **context})


def by_tag(product, context: dict) -> str:
    return engines["jinja2"].from_string(TAG).render({"product": product, **context})


@pytest.fixture(autouse=True)
def nothing_kept():
    for kept in (
        tags._card_kept,
        tags._header_kept,
        tags._site_head_kept,
        tags._persona_picker_kept,
        tags._static_url_kept,
    ):
        kept.cache_clear()
    tags._object_cards.clear()


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("product", PRODUCTS)
def test_the_tag_renders_what_the_cards_template_does(product, context):
    assert by_tag(product, context) == by_include(product, context)
    assert by_tag(product, context) == by_include(product, context)  # the kept card, filled in
    assert tags._card_kept.cache_info().hits == 1


def test_a_product_is_rendered_once_for_every_position_and_impression():
    product = PRODUCTS[0]
    for position in range(24):
        context = {"impression": SimpleNamespace(id=f"imp-{position}"), "position": position}
        assert f"position={position}" in by_tag(product, context)
    assert tags._card_kept.cache_info().misses == 1


def test_a_renamed_or_repriced_product_shows_at_once():
    before = PRODUCTS[0]
    renamed = ProductCard(before.sku, "Men's Slow Shoe", before.target, before.image, before.extra)
    repriced = ProductCard(before.sku, before.name, before.target, before.image, {"price": "99"})
    assert "Fast" in by_tag(before, {})
    assert "Slow Shoe" in by_tag(renamed, {}) and "Fast" not in by_tag(renamed, {})
    assert "$99.00" in by_tag(repriced, {})


def test_with_debug_the_template_renders_each_time():
    with override_settings(DEBUG=True):
        by_tag(PRODUCTS[0], {})
        by_tag(PRODUCTS[0], {})
    assert tags._card_kept.cache_info().currsize == 0


def result_rows(notes: list[str]) -> list:
    """Search result rows over PRODUCTS, in turn, each with its note."""
    return [
        SimpleNamespace(product=PRODUCTS[at % len(PRODUCTS)], note=note)
        for at, note in enumerate(notes)
    ]


NOTES = ["Because you viewed <b>Sam's</b> 100% shoe", "", "You viewed this", "", "50% & more"]


@pytest.mark.parametrize("impression", [None, SimpleNamespace(id="imp-%s&")])
def test_a_result_list_is_what_a_card_a_row_renders(impression):
    rows = result_rows(NOTES * 2)
    cards = [
        by_include(row.product, {"impression": impression, "position": at, "note": row.note})
        for at, row in enumerate(rows)
    ]
    expected = "\n".join(f"<li>{card}</li>" for card in cards)
    assert tags.result_cards(rows, impression) == expected
    assert tags.result_cards(rows, impression) == expected  # the kept cards, filled in
    with override_settings(DEBUG=True):
        assert tags.result_cards(rows, impression) == expected
    assert tags.result_cards([], impression) == ""


def test_a_result_list_makes_each_products_card_once_whatever_its_place_and_note():
    rows = result_rows(NOTES * 5)
    tags._object_cards.clear()
    tags.result_cards(rows, SimpleNamespace(id="one"))
    asked = tags._card_kept.cache_info()
    assert asked.misses == 2 * len(PRODUCTS)  # with a note and without one
    tags.result_cards(list(reversed(rows)), SimpleNamespace(id="two"))
    assert tags._card_kept.cache_info() == asked  # found by the objects: fields not read


def test_a_field_no_key_can_be_made_of_is_rendered_all_the_same():
    odd = ProductCard("X-4", "Odd", "kids", "", {"color": ["Red", "Blue"], "price": "5"})
    assert by_tag(odd, {}) == by_include(odd, {})


HEADER = "{{ site_header(nav_targets, target, search_text) }}"
HEADERS = [
    {"nav_targets": [], "search_text": ""},
    {"nav_targets": [TargetSummary("women", 3), TargetSummary("men", 2)], "search_text": "shoes"},
    {
        "nav_targets": [TargetSummary("women", 3), TargetSummary("kids", 1)],
        "target": "kids",
        "search_text": 'men\'s "trail" <shoes> & co',
    },
]


@pytest.mark.parametrize("context", HEADERS)
def test_the_header_is_its_templates_with_the_search_text_put_in(context):
    expected = render_to_string("storefront/_site_header.html", context)
    header = engines["jinja2"].from_string(HEADER)
    assert header.render(context) == expected
    assert header.render(context) == expected
    assert tags._header_kept.cache_info().hits == 1


def test_a_header_is_kept_per_departments_and_current_one_not_per_search():
    header = engines["jinja2"].from_string(HEADER)
    targets = [TargetSummary("women", 3), TargetSummary("men", 2)]
    for text in ("shoes", "jacket", "running shorts"):
        assert f'value="{text}"' in header.render({"nav_targets": targets, "search_text": text})
    assert tags._header_kept.cache_info().misses == 1
    header.render({"nav_targets": targets, "target": "men", "search_text": ""})
    assert tags._header_kept.cache_info().misses == 2


def test_the_heads_links_are_their_templates():
    head = engines["jinja2"].from_string("{{ site_head() }}")
    assert head.render({}) == render_to_string("storefront/_site_head.html") != ""


PERSONAS = [
    SimpleNamespace(slug="sam", name="Sam", who="a men's <trail> runner", line="Trails.", query=""),
    SimpleNamespace(slug="rae", name="Rae", who="a women's runner", line="Roads.", query="shoes"),
]


@pytest.mark.parametrize("visit", [None, SimpleNamespace(slug="rae")])
def test_the_persona_picker_is_its_template_with_the_pages_csrf_field_put_in(visit):
    from markupsafe import Markup

    for token in ("one", "two"):  # a token a page, the picker kept
        csrf = Markup(f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">')
        context = {"personas": PERSONAS, "persona_visit": visit, "csrf_input": csrf}
        path = "/search/?q=shoes&page=2"
        expected = render_to_string(
            "storefront/_persona_picker.html", {**context, "next_path": path}
        )
        assert tags.persona_picker(PERSONAS, visit, path, csrf) == expected
        assert f'value="{token}"' in expected and "&lt;trail&gt;" in expected
    assert tags._persona_picker_kept.cache_info().misses == 1
    tags.persona_picker(PERSONAS, visit, "/", csrf)
    assert tags._persona_picker_kept.cache_info().misses == 2  # another address


def test_a_static_files_address_is_worked_out_once_per_path_and_follows_the_settings():
    from django.templatetags.static import static

    page = engines["jinja2"].from_string("{{ static('css/shop.css') }} {{ static('js/a b.js') }}")
    assert page.render({}) == f"{static('css/shop.css')} {static('js/a b.js')}"
    page.render({})
    assert tags._static_url_kept.cache_info().misses == 2
    assert tags._static_url_kept.cache_info().hits == 2
    with override_settings(STATIC_URL="/assets/"):
        assert page.render({}) == "/assets/css/shop.css /assets/js/a%20b.js"
    assert page.render({}) == f"{static('css/shop.css')} {static('js/a b.js')}"
