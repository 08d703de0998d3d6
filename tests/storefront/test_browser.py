"""The shop in a real browser: clicking through records views; broken images fall back."""

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
