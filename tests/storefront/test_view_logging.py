"""Product page views are recorded in the visitor's session and in the event log."""

import pytest
import redis
from django.urls import reverse

from personalization.models import LIVE_SOURCE, ViewEvent
from personalization.state import VIEWED_SKUS_KEY, session_id_for

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


def view(client, sku, **headers):
    return client.get(reverse("product", args=[sku]), headers={"User-Agent": BROWSER, **headers})


def test_product_views_are_recorded_in_session_and_log_in_order(client, products):
    for sku in ["RUN-1", "RUN-3", "RUN-1"]:
        assert view(client, sku).status_code == 200
    assert client.session[VIEWED_SKUS_KEY] == ["RUN-1", "RUN-3", "RUN-1"]
    events = list(ViewEvent.objects.order_by("id").values_list("source", "session_id", "sku"))
    session_id = session_id_for(client.session.session_key)
    assert events == [(LIVE_SOURCE, session_id, sku) for sku in ["RUN-1", "RUN-3", "RUN-1"]]


def test_log_never_stores_the_session_key(client, products):
    view(client, "RUN-1")
    event = ViewEvent.objects.get()
    assert event.session_id != client.session.session_key
    assert client.session.session_key not in event.session_id


def test_two_visitors_get_two_sessions(client, django_user_model, products):
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


def test_head_requests_and_prefetches_are_not_events(client, products):
    url = reverse("product", args=["RUN-1"])
    assert client.head(url, headers={"User-Agent": BROWSER}).status_code == 200
    assert view(client, "RUN-1", **{"Sec-Purpose": "prefetch"}).status_code == 200
    assert ViewEvent.objects.count() == 0
    assert VIEWED_SKUS_KEY not in client.session


def test_unknown_product_is_a_404_and_not_an_event(client, products):
    assert view(client, "NOPE").status_code == 404
    assert ViewEvent.objects.count() == 0


def test_recently_viewed_shows_on_front_page_most_recent_first(client, products):
    for sku in ["RUN-1", "HIK-1", "RUN-1"]:
        view(client, sku)
    recent = client.get(reverse("home")).context["recently_viewed"]
    assert [p.sku for p in recent] == ["RUN-1", "HIK-1"]


def test_session_history_is_capped(client, products, settings):
    settings.CIS_RECENTLY_VIEWED_MAX = 3
    for sku in ["RUN-1", "RUN-2", "RUN-3", "HIK-1", "HIK-2"]:
        view(client, sku)
    assert client.session[VIEWED_SKUS_KEY] == ["RUN-3", "HIK-1", "HIK-2"]
    assert ViewEvent.objects.count() == 5  # the log keeps everything


@pytest.mark.redis
def test_views_are_recorded_with_sessions_cached_in_real_redis(
    client, products, settings, redis_url
):
    settings.CACHES = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url}
    }
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    view(client, "RUN-1")
    view(client, "RUN-2")
    assert client.session[VIEWED_SKUS_KEY] == ["RUN-1", "RUN-2"]
    assert ViewEvent.objects.count() == 2
    keys = redis.Redis.from_url(redis_url).keys("*cached_db*")
    assert len(keys) == 1  # the session lives in Redis, not only in the database
