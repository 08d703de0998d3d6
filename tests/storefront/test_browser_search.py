"""The search page's controls in a real browser: each keeps the words, filters, sort, mode and
strength; sort and strength apply on change with script and by their buttons without; on a
phone the results come first."""

from urllib.parse import parse_qsl, urlsplit

import pytest
from factories import running_shoes_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STATE = {"q": "shoe", "target": "women", "category": "running shoes", "strength": "0.5"}
SORTED = "/search/?q=shoe&target=women&category=running+shoes&strength=0.5&sort=price_asc"


def params(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


@pytest.fixture
def shoes(db):
    running_shoes_create(120)  # 60 women's: two pages of 48


def test_every_control_of_a_filtered_sorted_search_keeps_its_state(page, live_server, model):
    running_shoes_create(60)  # 30 women's: the model's RUN-1 among the first page's
    page.goto(live_server.url + "/products/RUN-1/")  # views that move women's running shoes
    page.goto(live_server.url + SORTED)
    page.locator('a[data-facet="target"][aria-current="true"]').click()  # clears "women"
    page.wait_for_url(lambda url: "target" not in url)
    cleared = {name: value for name, value in STATE.items() if name != "target"}
    assert params(page.url) == {**cleared, "sort": "price_asc"}
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url("**page=2**")
    assert params(page.url) == {**cleared, "sort": "price_asc", "page": "2"}

    relevance = live_server.url + SORTED.replace("&sort=price_asc", "")
    page.goto(relevance)
    page.get_by_role("link", name="Show the plain order").click()
    page.wait_for_url("**personalize=0**")
    assert params(page.url) == {**STATE, "personalize": "0"}
    page.get_by_role("link", name="Show my order").click()
    page.wait_for_url(lambda url: "personalize" not in url)
    assert params(page.url) == STATE

    page.get_by_role("link", name="Compare side by side").click()
    page.wait_for_url("**view=compare**")
    assert params(page.url) == {**STATE, "view": "compare"}
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url("**page=2**")
    assert params(page.url) == {**STATE, "view": "compare", "page": "2"}
    assert page.locator(".compare__rank").first.inner_text() == "11"
    page.get_by_role("link", name="Back to the grid").click()
    page.wait_for_url(lambda url: "view" not in url)
    assert params(page.url) == STATE


def test_the_sort_applies_on_change_without_its_button(page, live_server, shoes):
    page.goto(live_server.url + SORTED + "&page=2")
    assert page.locator("form.sort button").is_hidden()
    page.locator("#sort").select_option("price_desc")
    page.wait_for_url("**sort=price_desc**")
    assert params(page.url) == {**STATE, "sort": "price_desc"}  # and the page starts again
    prices = page.locator(".product-card__price").all_inner_texts()
    assert prices == sorted(prices, key=lambda text: float(text.strip("$")), reverse=True)


def test_the_strength_applies_on_change_and_zero_is_the_plain_order(page, live_server, model):
    page.goto(live_server.url + "/products/RUN-1/")
    page.goto(live_server.url + "/products/RUN-3/")
    page.goto(live_server.url + "/search/?q=shoe&target=women")
    assert page.locator(".search-state").get_attribute("data-personalized") == "true"
    assert page.locator("form.strength button").is_hidden()
    page.locator("#strength").focus()
    page.keyboard.press("Home")  # the slider to 0: one change, one submit
    page.wait_for_url("**strength=0**")
    assert params(page.url) == {"q": "shoe", "target": "women", "strength": "0"}
    state = page.locator(".search-state")
    assert state.get_attribute("data-personalized") == "false"
    assert "strength is at 0" in state.inner_text()


def test_without_script_the_sort_button_sorts(browser, live_server, shoes):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server.url + SORTED)
    page.locator("#sort").select_option("price_desc")
    assert params(page.url)["sort"] == "price_asc"  # nothing happens on change alone
    page.locator("form.sort button").click()
    page.wait_for_url("**sort=price_desc**")
    assert params(page.url) == {**STATE, "sort": "price_desc"}
    context.close()


def test_on_a_phone_the_first_result_is_on_the_first_screen(browser, live_server, shoes):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(live_server.url + SORTED)
    assert page.locator(".product-card").first.bounding_box()["y"] < 844
    assert page.locator("#sort").is_hidden()  # folded, one tap away
    page.locator(".search-controls__summary").click()
    assert page.locator("#sort").is_visible()
    context.close()


def test_the_strength_dial_moves_the_results_by_degrees(page, live_server, model):
    page.goto(live_server.url + "/products/RUN-1/")
    page.goto(live_server.url + "/products/RUN-3/")
    page.goto(live_server.url + "/search/?q=shoe&personalize=0")
    plain = page.locator(".product-card").evaluate_all("cards => cards.map(c => c.dataset.sku)")
    page.goto(live_server.url + "/search/?q=shoe&strength=1")
    orders = {}
    for strength in ["0.75", "0.5", "0.25", "0"]:
        orders[str(float(params(page.url)["strength"]))] = page.locator(
            ".product-card"
        ).evaluate_all("cards => cards.map(c => c.dataset.sku)")
        page.locator("#strength").focus()
        page.keyboard.press("ArrowLeft")  # one step down: one change, one submit
        page.wait_for_url(f"**strength={strength}")
    orders["0.0"] = page.locator(".product-card").evaluate_all(
        "cards => cards.map(c => c.dataset.sku)"
    )
    assert orders["0.0"] == plain
    # Each step up moves as many places from the plain order or more, and the dial has more
    # than two positions (of five results, a quarter still lifts nothing: 5 ** 0.25 rounds to 1).
    moved = [sum(a != b for a, b in zip(order, plain, strict=True)) for order in orders.values()]
    assert moved == sorted(moved, reverse=True) and moved[0] > 0, orders
    assert len({tuple(order) for order in orders.values()}) >= 4, orders
