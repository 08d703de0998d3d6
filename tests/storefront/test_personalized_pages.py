"""The shop's pages personalized: search re-ranked with its toggle, side-by-side view and
explanations; "Recommended for you"; similar products; and all of it with Redis away."""

import logging
import re
import socket

import pytest
import redis
from django.urls import reverse
from factories import PLAIN_SHOES, REDIS_DOWN_URL, products_view, redis_store_use
from markupsafe import escape

from personalization.models import ViewEvent
from personalization.redis_keys import visitor_key
from personalization.state import COOKIE_NAME, Visitor

NOTICE = "Personalization is unavailable right now"


# Running products point along the first axis, hiking ones the second, lifestyle the third.


def search(client, **params):
    return client.get(reverse("search"), params)


def card_skus(response) -> list[str]:
    """The SKUs of the result cards, in page order."""
    return re.findall(r'<article class="product-card" data-sku="([^"]+)"', response.text)


def section_skus(response, css_class: str) -> list[str]:
    """The product cards of the page's <section class="section {css_class}">."""
    match = re.search(rf'<section class="section {css_class}".*?</section>', response.text, re.S)
    assert match, f"no {css_class} section"
    return re.findall(r'class="product-card" data-sku="([^"]+)"', match.group(0))


def compare_columns(html: str) -> tuple[list[str], list[str]]:
    """The SKUs of the side-by-side table's plain and personalized columns, top to bottom."""
    plain = re.findall(r'<td class="compare__cell" data-sku="([^"]+)"', html)
    mine = re.findall(
        r'<td class="compare__cell compare__cell--personalized" data-sku="([^"]+)"', html
    )
    return plain, mine


def test_search_for_a_new_visitor_is_the_plain_order(client, model):
    response = search(client, q="shoe")
    assert response.status_code == 200
    assert card_skus(response)[:2] == PLAIN_SHOES
    assert card_skus(response) == card_skus(search(client, q="shoe", personalize="0"))
    assert "view a few products and these results will adapt to you" in response.text
    assert "Because you viewed" not in response.text


def test_search_after_running_views_puts_running_first_and_explains(client, model, shop):
    products_view(client, "RUN-1", "RUN-3")
    response = search(client, q="shoe")
    assert response.status_code == 200
    order = card_skus(response)
    assert set(order[:3]) == {"RUN-1", "RUN-2", "RUN-4"} and set(order[3:]) == set(PLAIN_SHOES)
    assert "Personalized for you" in response.text
    card = re.search(r'data-sku="RUN-2".*?</article>', response.text, re.S).group(0)
    because = re.search(r'<p class="product-card__note">(.*?)</p>', card).group(1)
    assert because in {escape(f"Because you viewed {shop[s].name}") for s in ["RUN-1", "RUN-3"]}
    assert 'data-mode="plain"' in response.text  # the toggle to the plain order


def test_the_toggle_shows_the_plain_order_and_links_back(client, model):
    plain = card_skus(search(client, q="shoe"))
    products_view(client, "RUN-1", "RUN-3")
    response = search(client, q="shoe", personalize="0")
    assert response.status_code == 200
    assert card_skus(response) == plain
    assert "Show my order" in response.text and 'data-mode="personalized"' in response.text
    assert "Because you viewed" not in response.text


def test_compare_view_puts_both_orders_side_by_side_with_movements(client, model):
    products_view(client, "RUN-1", "RUN-3")
    response = search(client, q="shoe", view="compare")
    assert response.status_code == 200
    html = response.text
    assert '<table class="compare__table">' in html
    plain, mine = compare_columns(html)
    assert plain == card_skus(search(client, q="shoe", personalize="0"))
    assert plain[:2] == PLAIN_SHOES
    assert set(mine[:3]) == {"RUN-1", "RUN-2", "RUN-4"} and set(mine) == set(plain)
    assert len(re.findall(r'<span class="moved"[^>]*>▲ \d+</span>', html)) == 3
    assert "because you viewed" in html


def test_compare_view_for_a_new_visitor_shows_the_same_order_twice(client, model):
    html = search(client, q="shoe", view="compare").text
    plain, mine = compare_columns(html)
    assert plain == mine and len(plain) == 5
    assert "▲" not in html


def test_front_page_recommends_for_you_only_after_views(client, model):
    before = client.get(reverse("home"))
    assert before.status_code == 200
    assert "Recommended for you" not in before.text
    assert "start browsing and this page learns your taste" in before.text
    products_view(client, "RUN-1", "RUN-3")
    after = client.get(reverse("home"))
    assert "Recommended for you" in after.text
    recommended = section_skus(after, "recommended")
    assert set(recommended[:2]) == {"RUN-2", "RUN-4"}
    assert not {"RUN-1", "RUN-3"} & set(recommended)


def test_front_page_without_a_model_recommends_nothing(client, shop, settings):
    settings.CIS_MODEL_CHECK_SECONDS = 0
    products_view(client, "RUN-1")
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert "Recommended for you" not in response.text


def test_product_page_shows_similar_products_from_the_embeddings(client, model):
    response = products_view(client, "HIK-1")
    assert "Similar products" in response.text and "More like this" not in response.text
    similar = section_skus(response, "similar")
    assert similar[:2] == ["HIK-3", "HIK-2"] and "HIK-1" not in similar


def test_product_page_without_a_model_shows_more_like_this(client, shop, settings):
    settings.CIS_MODEL_CHECK_SECONDS = 0
    response = products_view(client, "RUN-1")
    assert "More like this" in response.text and "Similar products" not in response.text
    assert section_skus(response, "related") == ["RUN-4"]  # same audience and category


@pytest.fixture
def redis_down(settings):
    """The visitors' state in a Redis on a port where nothing listens: every call is refused."""
    redis_store_use(settings, REDIS_DOWN_URL)


@pytest.fixture
def redis_silent(settings):
    """The visitors' state in a server that accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    redis_store_use(settings, f"redis://127.0.0.1:{server.getsockname()[1]}/0")
    yield
    server.close()


def warnings_of_redis(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "common.redis_circuit"]


@pytest.mark.parametrize("unreachable", ["redis_down", "redis_silent"])
def test_with_redis_away_every_page_renders_plain_with_a_notice(
    client, model, caplog, request, unreachable, circuit_clock, redis_failures
):
    plain = card_skus(search(client, q="shoe"))  # before any view: Redis is not asked
    request.getfixturevalue(unreachable)
    caplog.set_level(logging.WARNING, logger="common.redis_circuit")
    product = products_view(client, "RUN-1", "RUN-3")
    assert NOTICE in product.text
    assert list(ViewEvent.objects.values_list("sku", flat=True)) == ["RUN-1", "RUN-3"]
    assert "Similar products" in product.text  # the model needs no Redis

    found = search(client, q="shoe")
    assert found.status_code == 200
    assert card_skus(found) == plain and NOTICE in found.text
    assert "Because you viewed" not in found.text
    compared = search(client, q="shoe", view="compare")
    assert compared.status_code == 200 and "▲" not in compared.text

    home = client.get(reverse("home"))
    assert home.status_code == 200
    assert NOTICE in home.text and "Recommended for you" not in home.text

    api = client.get(reverse("api:search"), {"q": "shoe"}).json()
    assert [item["sku"] for item in api["results"]] == plain
    assert api["personalized"] is False and any(NOTICE in n for n in api["notices"])
    # The first call gives up after a quarter of a second; the circuit spares the others that.
    assert len(redis_failures) == 1, redis_failures
    assert len(warnings_of_redis(caplog)) == 1  # one warning, not one per request


@pytest.mark.redis
def test_on_the_real_redis_the_pages_personalize_from_the_state_stored_there(
    client, model, settings, redis_url, shop
):
    redis_store_use(settings, redis_url)
    plain = card_skus(search(client, q="shoe"))
    product = products_view(client, "RUN-1", "RUN-3")
    assert NOTICE not in product.text
    key = visitor_key(Visitor(client.cookies[COOKIE_NAME].value).id)
    server = redis.Redis.from_url(redis_url)
    assert server.exists(key)

    found = search(client, q="shoe")
    assert set(card_skus(found)[:3]) == {"RUN-1", "RUN-2", "RUN-4"}
    assert "Because you viewed" in found.text and NOTICE not in found.text
    assert "Recommended for you" in client.get(reverse("home")).text

    server.delete(key)  # the visitor's state was only there
    assert card_skus(search(client, q="shoe")) == plain
    assert "Recommended for you" not in client.get(reverse("home")).text


def test_the_strength_slider_scales_personalization_down_to_the_plain_order(client, model):
    plain = card_skus(search(client, q="shoe", personalize="0"))
    products_view(client, "RUN-1", "RUN-3")
    full = search(client, q="shoe")
    assert 'type="range" name="strength"' in full.text and 'value="1.0"' in full.text
    assert card_skus(full) != plain
    none = search(client, q="shoe", strength="0")
    assert card_skus(none) == plain and 'value="0.0"' in none.text
    assert card_skus(search(client, q="shoe", strength="lots")) == card_skus(full)  # not a 400


def test_a_viewed_result_says_so_and_an_unmoved_one_gives_no_reason(client, model, shop):
    products_view(client, "RUN-1", "RUN-3")
    notes = dict(
        re.findall(
            r'data-sku="([^"]+)".*?<p class="product-card__note">(.*?)</p>',
            search(client, q="shoe").text,
            re.S,
        )
    )
    assert notes["RUN-1"] == "You viewed this"
    assert notes["RUN-2"] in {
        escape(f"Because you viewed {shop[s].name}") for s in ["RUN-1", "RUN-3"]
    }
    assert "product-card__note" not in search(client, q="shoe", strength="0").text


def test_the_compare_view_shows_a_picture_of_each_product(client, model):
    products_view(client, "RUN-1", "RUN-3")
    response = search(client, q="shoe", view="compare")
    plain, mine = compare_columns(response.text)
    thumbs = re.findall(r'<img class="compare__thumb" src="([^"]+)"', response.text)
    assert len(thumbs) == len(plain) + len(mine) and all(thumbs)


def state_line(response) -> str:
    return re.search(r'<p class="search-state[^"]*"[^>]*>(.*?)</p>', response.text).group(1)


def test_the_state_line_says_why_an_order_is_plain_and_never_asks_for_views_it_has(
    client, model, monkeypatch, settings
):
    products_view(client, "RUN-1", "RUN-3")
    assert state_line(search(client, q="shoe")).startswith("Personalized for you")
    sorted_by_price = search(client, q="shoe", sort="price_asc")
    assert state_line(sorted_by_price) == (
        "Sorted by price: personalization applies to the relevance order."
    )
    chosen = search(client, q="shoe", personalize="0")
    assert state_line(chosen) == "Plain order, as the built-in search engine ranks it."
    monkeypatch.setattr("storefront.views.SEARCH_ROWS", 2)
    settings.CIS_RERANK_WINDOW = 2
    assert state_line(search(client, q="shoe")).startswith("Personalized for you")
    past = search(client, q="shoe", page="2")
    assert state_line(past) == (
        "Plain order: personalization re-ranks the first 2 results, and this page is past them."
    )
    for response in (sorted_by_price, chosen, past):
        assert "view a few products" not in response.text


def test_strength_zero_is_the_plain_order_and_says_it_is_not_personalized(client, model):
    plain = search(client, q="shoe", personalize="0")
    products_view(client, "RUN-1", "RUN-3")
    none = search(client, q="shoe", strength="0")
    assert card_skus(none) == card_skus(plain)
    assert state_line(none) == "Plain order: the strength is at 0, so your views do not count."
    assert 'data-personalized="false"' in none.text and "Because you viewed" not in none.text
    assert "From the 2 products you viewed" in none.text  # the taste is still shown
    api = client.get(reverse("api:search"), {"q": "shoe", "strength": "0"}).json()
    assert api["personalized"] is False
    assert all(item["because"] is None and item["similarity"] is None for item in api["results"])
