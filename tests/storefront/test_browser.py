"""The shop in a real browser: clicking through records views; broken images fall back; a
persona's banner, and the way back to one's own views."""

import pytest

from catalog.models import Product
from personalization.models import ViewEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clicking_a_product_records_it_and_shows_it_as_recently_viewed(page, live_server):
    Product.objects.create(sku="RUN-1", name="Women's Running Shoe, Coral", target="women")
    Product.objects.create(sku="HIK-1", name="Men's Hiking Boot, Olive", target="men")
    page.goto(live_server.url + "/")
    page.locator('.product-card[data-sku="HIK-1"] a').first.click()
    page.wait_for_url("**/products/HIK-1/")
    assert "Hiking Boot" in page.locator("h1").inner_text()
    page.goto(live_server.url + "/")
    recent = page.locator('.recently-viewed .product-card[data-sku="HIK-1"]')
    assert recent.count() == 1
    assert list(ViewEvent.objects.values_list("sku", flat=True)) == ["HIK-1"]


def test_unreachable_image_is_replaced_by_the_local_placeholder(page, live_server):
    Product.objects.create(
        sku="GONE", name="Lost Image Jacket", target="men", image="http://127.0.0.1:9/nope.png"
    )
    page.goto(live_server.url + "/products/GONE/")
    image = page.locator('.product-detail img[alt="Lost Image Jacket"]')
    page.wait_for_function(
        "img => img.complete && img.src.endsWith('placeholder.svg')", arg=image.element_handle()
    )
    assert image.evaluate("img => img.naturalWidth") > 0  # the placeholder itself loads


@pytest.mark.slow
def test_a_persona_shows_its_banner_and_back_gives_the_own_recently_viewed(
    page, live_server, settings
):
    settings.CIS_PERSONAS = [
        {
            "slug": "runner", "name": "Rae", "who": "a women's runner", "line": "Shoes, shorts.",
            "query": "shoe", "searches": ["running shoe", "running shorts"],
        }
    ]  # fmt: skip
    for sku, name, target in [
        ("RUN-1", "Women's Running Shoe, Coral", "women"),
        ("RUN-3", "Women's Running Shorts, Navy", "women"),
        ("HIK-1", "Men's Hiking Boot, Olive", "men"),
        ("LIF-1", "Men's Leather Sneaker, White", "men"),
    ]:
        Product.objects.create(sku=sku, name=name, target=target)

    def recently_viewed() -> list[str]:
        cards = page.locator(".recently-viewed .product-card")
        return cards.evaluate_all("cards => cards.map(card => card.dataset.sku)")

    for sku in ["HIK-1", "LIF-1"]:
        page.goto(f"{live_server.url}/products/{sku}/")
    page.goto(live_server.url + "/")
    own = recently_viewed()
    assert own == ["LIF-1", "HIK-1"] and page.locator(".persona-banner").count() == 0

    page.locator('[data-persona="runner"]').click()
    banner = page.locator(".persona-banner")
    banner.wait_for()
    assert "You are browsing as Rae, a women's runner." in banner.inner_text()
    page.goto(live_server.url + "/products/HIK-1/")  # a view as Rae is Rae's
    assert "browsing as Rae" in page.locator(".persona-banner").inner_text()
    page.locator(".search-form__input").fill("shoe")
    page.locator(".search-form__button").click()
    page.wait_for_url("**/search/?q=shoe")
    assert "browsing as Rae" in page.locator(".persona-banner").inner_text()
    page.goto(live_server.url + "/")
    assert recently_viewed() == ["HIK-1", "RUN-3", "RUN-1"]

    page.goto(live_server.url + "/products/RUN-1/")  # back from one of Rae's products
    with page.expect_navigation():
        page.locator("[data-persona-end]").click()
    assert page.url.endswith("/products/RUN-1/") and page.locator(".persona-banner").count() == 0
    page.goto(live_server.url + "/")
    assert recently_viewed() == own
