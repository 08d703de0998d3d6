"""The Content-Security-Policy: on every response, strict (no inline script or style), and no
page the shop renders needs an exception to it. tests/storefront/test_browser_csp.py checks the
same in Chromium, where the policy is enforced."""

from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from catalog.models import Product
from personalization.affinity import affinity_forget
from personalization.models import EmbeddingVersion

HOSTILE_NAME = '"><img src=x onerror="alert(1)"><script>alert(2)</script><style>*{}</style>'


class InlineCode(HTMLParser):
    """Notes every inline script, style, event handler and javascript: URL of a page."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and "src" not in attributes:
            if attributes.get("type") != "application/json":  # data, never run
                self.found.append(f"inline <script> {attrs}")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action", "formaction") and value:
                if value.strip().lower().startswith("javascript:"):
                    self.found.append(f"<{tag} {name}={value!r}>")


def policy_of(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";"))}


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found


@pytest.fixture
def hostile_shop(shop, model):
    """The shop with markup in a product's name, target and category."""
    Product.objects.filter(sku="RUN-2").update(
        name=HOSTILE_NAME, target="<b>men</b>", extra={"category": "</style><script>x()</script>"}
    )
    affinity_forget()
    yield shop
    affinity_forget()  # the process keeps each version's categories: not these for the next test


@pytest.fixture
def staff(admin_client):
    return admin_client


def shop_pages(client) -> dict[str, str]:
    version = EmbeddingVersion.objects.filter(is_active=True).get().pk
    return {
        "home": "/",
        "product": reverse("product", args=["RUN-2"]),
        "listing": reverse("target", args=["<b>men</b>"]),
        "search": "/search/?q=shoe",
        "compare": "/search/?q=shoe&view=compare",
        "space": reverse("space"),
        "explore": reverse("space-explore") + "?of=RUN-2&a=RUN-1&b=RUN-2&c=HIK-1",
        "unknown product": reverse("product", args=["<script>"]),
        "unknown page": "/no/such/page/",
        "api": "/api/search/?q=shoe",
        "static": "/static/css/shop.css",
        "admin": "/admin/",
        "admin versions": reverse("admin:personalization_embeddingversion_changelist"),
        "admin version": reverse("admin:personalization_embeddingversion_change", args=[version]),
        "admin products": reverse("admin:catalog_product_changelist"),
        "admin product": reverse("admin:catalog_product_change", args=["RUN-2"]),
        "admin views": reverse("admin:personalization_viewevent_changelist"),
    }


def test_every_response_has_the_strict_policy(hostile_shop, staff, settings):
    settings.DEBUG = False
    for name, url in shop_pages(staff).items():
        response = staff.get(url)
        assert response.status_code in (200, 404), (name, response.status_code)
        policy = policy_of(response)
        assert policy["script-src"] == ["'self'"], name
        assert policy["style-src"] == ["'self'"], name
        assert policy["default-src"] == ["'self'"], name
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"], name
        assert policy["frame-ancestors"] == ["'none'"], name


def test_no_page_has_inline_script_style_or_handler(hostile_shop, staff, client):
    client.get(reverse("product", args=["RUN-1"]))  # a visitor with views: their taste is drawn
    client.get(reverse("product", args=["RUN-2"]))
    for name, url in shop_pages(staff).items():
        if url.startswith(("/api/", "/static/")):
            continue
        for who in (client, staff):
            asked = url
            if url.startswith("/admin/") and who is client:
                asked = "/admin/login/?next=" + url  # what a visitor gets: the login form
            response = who.get(asked)
            assert response.status_code in (200, 404), (name, asked, response.status_code)
            html = response.content.decode()
            assert inline_code(html) == [], (name, inline_code(html))
    home = client.get("/").content.decode()
    assert 'class="taste__meter"' in home  # the visitor's taste was drawn, without styles


def test_the_500_page_has_the_policy(db, settings, monkeypatch):
    from storefront import views

    settings.DEBUG = False
    monkeypatch.setattr(views, "home_page", lambda *args, **kwargs: 1 / 0)
    response = Client(raise_request_exception=False).get("/")
    assert response.status_code == 500
    assert policy_of(response)["script-src"] == ["'self'"]
    assert inline_code(response.content.decode()) == []


def test_the_inline_code_check_finds_what_it_looks_for():
    assert len(inline_code('<script>x()</script><style>a{}</style><p style="x" onclick="y">')) == 4
    assert inline_code('<a href=" JavaScript:alert(1)">') != []
    assert inline_code('<script src="/static/a.js"></script><p data-style="x">') == []
    assert inline_code('<img alt="&quot; onerror=&quot;x()">') == []  # escaped: only text
