"""A product page's catalog part (its details, similar or related products) is read and
rendered once per catalog version and active model, and a change to either shows at once."""

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from factories import BROWSER

from catalog.changes import catalog_version_bump
from catalog.models import Product

BOT = "curl/8.5.0"


def _product_queries(client, path: str, user_agent: str = BOT) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, HTTP_USER_AGENT=user_agent)
    assert response.status_code == 200
    return [q["sql"] for q in queries.captured_queries if "catalog_product" in q["sql"]]


def test_the_catalog_part_is_read_once_per_catalog_version(client, products, model):
    assert _product_queries(client, "/products/RUN-1/")  # the product and its similar ones
    assert _product_queries(client, "/products/RUN-1/") == []  # kept
    with transaction.atomic():
        Product.objects.filter(sku="RUN-1").update(name="Trail Shoe for Women, Coral")
        catalog_version_bump()
    assert _product_queries(client, "/products/RUN-1/")  # a new version: read again
    html = client.get("/products/RUN-1/", HTTP_USER_AGENT=BROWSER).content.decode()
    assert "Trail Shoe for Women, Coral" in html and "Lightweight" not in html


def test_a_product_that_left_the_catalog_is_not_found_at_once(client, products, model):
    assert client.get("/products/RUN-2/", HTTP_USER_AGENT=BOT).status_code == 200
    with transaction.atomic():
        Product.objects.filter(sku="RUN-2").delete()
        catalog_version_bump()
    assert client.get("/products/RUN-2/", HTTP_USER_AGENT=BOT).status_code == 404


def test_the_cards_a_page_lists_are_read_once_per_catalog_version(client, products, model):
    for sku in ("RUN-1", "RUN-3"):
        client.get(f"/products/{sku}/", HTTP_USER_AGENT=BROWSER)
    assert _product_queries(client, "/", BROWSER)  # the targets, the recommended, the popular
    assert _product_queries(client, "/", BROWSER) == []  # kept: the catalog's version only
    with transaction.atomic():
        Product.objects.filter(sku="RUN-1").update(name="Trail Shoe for Women, Coral")
        catalog_version_bump()
    assert _product_queries(client, "/", BROWSER)
    html = client.get("/", HTTP_USER_AGENT=BROWSER).content.decode()
    assert "Trail Shoe for Women, Coral" in html and "Lightweight" not in html  # recently viewed


def test_a_visitors_recommendations_are_asked_again_after_each_view(client, products, model):
    from storefront.shop import products as shop_products

    asked = shop_products._recommended.cache_info
    client.get("/products/RUN-1/", HTTP_USER_AGENT=BROWSER)
    before = asked().misses
    first = client.get("/", HTTP_USER_AGENT=BROWSER).context["recommended"]
    assert client.get("/", HTTP_USER_AGENT=BROWSER).context["recommended"] == first
    assert asked().misses == before + 1  # the same session: answered once
    client.get("/products/HIK-1/", HTTP_USER_AGENT=BROWSER)
    client.get("/", HTTP_USER_AGENT=BROWSER)
    assert asked().misses == before + 2  # a new view, a new question


def test_a_view_is_sent_before_the_catalog_part_is_read_and_answered_after(
    client, products, model, monkeypatch
):
    """The view's round trip overlaps the catalog part's query (Redis: the script is sent,
    its reply read once the part is at hand)."""
    from storefront.shop import products as shop_products

    order = []
    part_read, view_send = shop_products.product_part, shop_products.product_view_send

    def part(sku):
        order.append("part")
        return part_read(sku)

    def send(visitor, sku, **options):
        order.append("sent")
        tracking = view_send(visitor, sku, **options)
        tracked = tracking.tracked
        tracking.tracked = lambda: order.append("answered") or tracked()
        return tracking

    monkeypatch.setattr(shop_products, "product_part", part)
    monkeypatch.setattr(shop_products, "product_view_send", send)
    client.get("/products/RUN-1/", HTTP_USER_AGENT=BROWSER)
    html = client.get("/products/RUN-3/", HTTP_USER_AGENT=BROWSER).content.decode()
    assert order == ["sent", "part", "answered"] * 2
    assert "Recently viewed" in html and "/products/RUN-1/" in html
    client.get("/products/RUN-1/", HTTP_USER_AGENT=BOT)  # a bot's view: nothing sent
    assert order[6:] == ["part"]
