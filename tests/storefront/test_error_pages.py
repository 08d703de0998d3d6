"""The shop's own 404 and 500 pages: in the shop's style, even with DEBUG on (the demo) for a
product, target or persona that does not exist, and with no inline style or script."""

import pytest
from django.test import Client
from django.urls import reverse


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def test_an_unknown_product_shows_the_shops_404_page_even_with_debug_on(client, products, debug):
    response = client.get(reverse("product", args=["NOPE"]))
    assert response.status_code == 404
    page = response.content.decode()
    assert "Lost in space" in page and "No product “NOPE” in the catalog." in page
    assert 'class="site-header"' in page  # the shop's frame, with its search and departments
    assert 'href="/targets/men/"' in page
    assert "Django" not in page and "technical" not in page.lower()


def test_an_unknown_target_and_persona_show_the_shops_404_page(client, products, debug):
    target = client.get(reverse("target", args=["aliens"]))
    assert target.status_code == 404
    assert "Nothing in the shop is for “aliens”." in target.content.decode()
    persona = client.post(reverse("persona", args=["astronaut"]))
    assert persona.status_code == 404
    assert "No persona “astronaut”." in persona.content.decode()


def test_the_missing_name_is_escaped_on_the_404_page(client, products):
    response = client.get("/products/%3Cimg%20src=x%20onerror=alert(1)%3E/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "<img src=x" not in page
    assert "No product “&lt;img src=x onerror=alert(1)&gt;” in the catalog." in page


def test_an_unknown_address_shows_the_shops_404_page_with_debug_off(client, products, settings):
    settings.DEBUG = False
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Lost in space" in response.content.decode()


def test_a_server_error_shows_the_shops_500_page_without_inline_style(db, settings, monkeypatch):
    from storefront import views

    settings.DEBUG = False

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "home_page", broken)
    response = Client(raise_request_exception=False).get(reverse("home"))
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page
    assert 'href="/static/css/shop.css"' in page
    assert "<style" not in page and "style=" not in page and "<script" not in page


def test_a_media_name_longer_than_the_file_system_takes_is_the_shops_404(client, db, settings):
    (settings.MEDIA_ROOT / "pictures").mkdir(parents=True)
    (settings.MEDIA_ROOT / "pictures" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert client.get("/media/pictures/a.png").status_code == 200
    response = client.get("/media/pictures/a.png" + "x" * 300)
    assert response.status_code == 404 and "Lost in space" in response.content.decode()
