"""A flood of views through the shop's doors, POST /api/events/ and the product pages: over the
limits the API answers 429 with Retry-After and the page is shown unrecorded; bots are answered
and never recorded; only accepted views reach the stream or the event log."""

import pytest
import redis
from django.test import Client
from django.urls import reverse
from factories import BROWSER, FakeClock

from personalization import view_limits
from personalization.models import ViewEvent
from personalization.redis_keys import stream_keys
from personalization.state import COOKIE_NAME, Visitor, visitor_state
from storefront.shop.products import VIEWS_LIMITED

WINDOW_START = 60 * 100_000.0


@pytest.fixture
def clock(monkeypatch):
    """The limits' clock, 20 s into a window: 40 s left in it."""
    stopped = FakeClock(start=WINDOW_START + 20)
    monkeypatch.setattr(view_limits, "clock", stopped)
    return stopped


@pytest.fixture
def store(any_store, products):
    return any_store


def logged_skus(store: str, settings) -> list[str]:
    """The SKUs of the views that reached the training data: the stream, or the event log."""
    if store == "redis":
        client = redis.Redis.from_url(settings.CACHES["personalization"]["LOCATION"])
        return [fields[b"sku"].decode() for _, fields in client.xrange(stream_keys()[0])]
    return list(ViewEvent.objects.order_by("id").values_list("sku", flat=True))


def post_view(client: Client, sku: str, **headers):
    return client.post(
        reverse("api:events"),
        {"sku": sku},
        content_type="application/json",
        headers={"User-Agent": BROWSER, **headers},
    )


def test_the_api_answers_429_with_retry_after_over_the_visitor_limit(store, settings, clock):
    settings.CIS_VIEWS_PER_MINUTE_VISITOR = 3
    client = Client()
    assert [post_view(client, sku).status_code for sku in ["RUN-1", "RUN-2", "RUN-3"]] == [201] * 3
    refused = post_view(client, "HIK-1")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "40"
    error = refused.json()["error"]
    assert (error["status"], error["code"], error["parameter"]) == (429, "too_many_requests", None)
    assert "40 s" in error["message"]
    visitor = Visitor(client.cookies[COOKIE_NAME].value)
    assert visitor_state(visitor).skus == ("RUN-1", "RUN-2", "RUN-3")
    assert logged_skus(store, settings) == ["RUN-1", "RUN-2", "RUN-3"]
    clock.advance(40)  # the next window
    assert post_view(client, "HIK-2").status_code == 201
    assert logged_skus(store, settings) == ["RUN-1", "RUN-2", "RUN-3", "HIK-2"]


def test_new_cookies_do_not_escape_the_address_limit_nor_does_a_forged_forwarded_for(
    store, settings, clock
):
    """A script that drops its cookie for each view and makes up X-Forwarded-For: the shop,
    not configured to trust that header, counts the address it sees."""
    settings.CIS_VIEWS_PER_MINUTE_ADDRESS = 5
    answers = [
        post_view(Client(), "RUN-1", **{"X-Forwarded-For": f"198.51.100.{n}"}).status_code
        for n in range(8)
    ]
    assert answers == [201] * 5 + [429] * 3
    assert len(logged_skus(store, settings)) == 5


def test_behind_a_configured_proxy_each_client_address_has_its_own_limit(store, settings, clock):
    settings.CIS_CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    settings.CIS_VIEWS_PER_MINUTE_ADDRESS = 2
    statuses = {
        client: [
            post_view(
                Client(), "RUN-1", **{"X-Forwarded-For": f"203.0.113.9, {client}"}
            ).status_code
            for _ in range(3)
        ]
        for client in ["198.51.100.1", "198.51.100.2"]
    }
    assert statuses == {"198.51.100.1": [201, 201, 429], "198.51.100.2": [201, 201, 429]}
    assert len(logged_skus(store, settings)) == 4


def test_a_product_page_over_the_limit_is_shown_but_not_recorded(store, settings, clock):
    settings.CIS_VIEWS_PER_MINUTE_VISITOR = 2
    client = Client()
    for sku in ["RUN-1", "RUN-2"]:
        response = client.get(reverse("product", args=[sku]), headers={"User-Agent": BROWSER})
        assert VIEWS_LIMITED not in response.content.decode()
    response = client.get(reverse("product", args=["HIK-1"]), headers={"User-Agent": BROWSER})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Men&#39;s Waterproof Hiking Boot" in page and VIEWS_LIMITED.split(",")[0] in page
    assert [p.sku for p in response.context["recently_viewed"]] == ["RUN-2", "RUN-1"]
    assert logged_skus(store, settings) == ["RUN-1", "RUN-2"]


def test_a_bots_event_is_answered_and_never_recorded(store, settings, clock):
    response = post_view(Client(), "RUN-1", **{"User-Agent": "Googlebot/2.1"})
    assert response.status_code == 200
    assert response.json()["recorded"] is None and response.json()["notices"]
    assert COOKIE_NAME not in response.cookies
    assert post_view(Client(), "NOPE", **{"User-Agent": "curl/8.5.0"}).status_code == 404
    assert logged_skus(store, settings) == []


def test_a_headless_shops_http_library_is_recorded_by_the_api_but_its_page_fetch_is_not(
    store, settings, clock
):
    # A headless shop's server or app sends its visitors' views through an HTTP library.
    for agent in ["python-requests/2.32", "okhttp/4.12.0"]:
        response = post_view(Client(), "RUN-1", **{"User-Agent": agent})
        assert response.status_code == 201 and response.json()["recorded"] == "RUN-1"
    page = Client().get(reverse("product", args=["RUN-2"]), headers={"User-Agent": "curl/8.5.0"})
    assert page.status_code == 200
    assert logged_skus(store, settings) == ["RUN-1", "RUN-1"]


def test_browsing_as_a_persona_over_the_limit_keeps_the_views_it_could_record(
    store, settings, clock, monkeypatch
):
    from storefront.shop import visitors

    persona = visitors.Persona(
        "runner", "Rae", "a runner", "Shoes.", "shoe", ["RUN-1", "RUN-2", "RUN-3"]
    )
    monkeypatch.setattr(visitors, "personas_available", lambda: [persona])
    settings.CIS_VIEWS_PER_MINUTE_VISITOR = 2
    client = Client()
    response = client.post(reverse("persona", args=["runner"]), {"next": "/"})
    assert response.status_code == 302
    assert visitor_state(Visitor(client.cookies[COOKIE_NAME].value)).skus == ("RUN-1", "RUN-2")
    assert logged_skus(store, settings) == ["RUN-1", "RUN-2"]
