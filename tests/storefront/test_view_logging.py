"""Product page views are recorded in the visitor's state and in the event log, under the
visitor's cookie, with no Django session."""

import pytest
from django.urls import reverse
from factories import redis_store_use

from personalization.models import LIVE_SOURCE, ViewEvent
from personalization.redis_keys import visitor_key
from personalization.state import COOKIE_NAME, Visitor, visitor_state

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


def view(client, sku, **headers):
    return client.get(reverse("product", args=[sku]), headers={"User-Agent": BROWSER, **headers})


def visitor_of(client) -> Visitor:
    return Visitor(client.cookies[COOKIE_NAME].value)


def test_product_views_are_recorded_in_the_state_and_the_log_in_order(client, products):
    for sku in ["RUN-1", "RUN-3", "RUN-1"]:
        assert view(client, sku).status_code == 200
    visitor = visitor_of(client)
    assert visitor_state(visitor).skus == ("RUN-1", "RUN-3", "RUN-1")
    events = list(ViewEvent.objects.order_by("id").values_list("source", "session_id", "sku"))
    assert events == [(LIVE_SOURCE, visitor.id, sku) for sku in ["RUN-1", "RUN-3", "RUN-1"]]


def test_a_view_writes_no_django_session(client, products):
    from django.contrib.sessions.models import Session

    view(client, "RUN-1")
    assert Session.objects.count() == 0
    assert "sessionid" not in client.cookies


def test_the_visitor_cookie_is_http_only_and_lasts_as_long_as_the_state(client, products, settings):
    response = view(client, "RUN-1")
    cookie = response.cookies[COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert cookie["max-age"] == settings.CIS_VISITOR_TTL


def test_a_page_that_records_nothing_sets_no_cookie(client, products):
    assert COOKIE_NAME not in client.get(reverse("home")).cookies
    crawler = {"HTTP_USER_AGENT": "Googlebot/2.1"}
    assert COOKIE_NAME not in client.get(reverse("search"), {"q": "shoe"}, **crawler).cookies
    assert COOKIE_NAME not in client.get(reverse("search"), {"q": "nothing matches"}).cookies


def test_a_search_shown_to_a_person_is_an_impression_of_theirs_and_sets_the_cookie(
    client, products, settings
):
    cookie = client.get(reverse("search"), {"q": "shoe"}).cookies[COOKIE_NAME]
    assert cookie["max-age"] == settings.CIS_VISITOR_TTL


def test_a_forged_cookie_is_ignored_and_replaced(client, products):
    client.cookies[COOKIE_NAME] = "not a token; DROP TABLE"
    view(client, "RUN-1")
    assert client.cookies[COOKIE_NAME].value != "not a token; DROP TABLE"
    assert visitor_state(visitor_of(client)).skus == ("RUN-1",)


def test_log_never_stores_the_cookie(client, products):
    view(client, "RUN-1")
    token = client.cookies[COOKIE_NAME].value
    event = ViewEvent.objects.get()
    assert token not in event.session_id


def test_two_visitors_get_two_sessions(client, products):
    from django.test import Client

    other = Client()
    view(client, "RUN-1")
    view(other, "HIK-1")
    assert ViewEvent.objects.values("session_id").distinct().count() == 2


@pytest.mark.parametrize(
    "user_agent",
    [
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0)",
        "curl/8.5.0",
        "python-requests/2.32",
        "facebookexternalhit/1.1",
    ],
)
def test_bots_are_not_events(client, products, user_agent):
    response = client.get(reverse("product", args=["RUN-1"]), headers={"User-Agent": user_agent})
    assert response.status_code == 200
    assert ViewEvent.objects.count() == 0
    assert COOKIE_NAME not in response.cookies


def test_head_requests_and_prefetches_are_not_events(client, products):
    url = reverse("product", args=["RUN-1"])
    assert client.head(url, headers={"User-Agent": BROWSER}).status_code == 200
    assert view(client, "RUN-1", **{"Sec-Purpose": "prefetch"}).status_code == 200
    assert ViewEvent.objects.count() == 0
    assert COOKIE_NAME not in client.cookies


def test_unknown_product_is_a_404_and_not_an_event(client, products):
    assert view(client, "NOPE").status_code == 404
    assert ViewEvent.objects.count() == 0


def test_recently_viewed_shows_on_front_page_most_recent_first(client, products):
    for sku in ["RUN-1", "HIK-1", "RUN-1"]:
        view(client, sku)
    recent = client.get(reverse("home")).context["recently_viewed"]
    assert [p.sku for p in recent] == ["RUN-1", "HIK-1"]


def test_the_product_page_lists_the_other_products_viewed(client, products):
    for sku in ["RUN-1", "HIK-1", "RUN-2"]:
        view(client, sku)
    recent = view(client, "HIK-1").context["recently_viewed"]
    assert [p.sku for p in recent] == ["RUN-2", "RUN-1"]


def test_the_state_is_capped_and_the_log_keeps_everything(client, products, settings):
    settings.CIS_VISITOR_VIEWS_MAX = 3
    for sku in ["RUN-1", "RUN-2", "RUN-3", "HIK-1", "HIK-2"]:
        view(client, sku)
    assert visitor_state(visitor_of(client)).skus == ("RUN-3", "HIK-1", "HIK-2")
    assert ViewEvent.objects.count() == 5


@pytest.mark.redis
def test_with_redis_views_are_recorded_in_redis_and_the_log(client, products, settings, redis_url):
    import redis

    redis_store_use(settings, redis_url)
    view(client, "RUN-1")
    view(client, "RUN-2")
    visitor = visitor_of(client)
    assert visitor_state(visitor).skus == ("RUN-1", "RUN-2")
    assert ViewEvent.objects.filter(session_id=visitor.id).count() == 2
    stored = redis.Redis.from_url(redis_url).lrange(visitor_key(visitor.id), 0, -1)
    assert stored == [b"RUN-1", b"RUN-2"]


def test_a_page_of_a_visitor_varies_on_the_cookie(client, products):
    response = view(client, "RUN-1")
    assert "Cookie" in response["Vary"]
    assert "Cookie" in client.get(reverse("home"))["Vary"]
