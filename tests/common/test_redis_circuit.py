"""common.redis_circuit against a real redis-server of the test's own, stopped (SIGSTOP: hung,
every read times out), resumed, killed and restarted. The circuits' clock is the test's: the
period passes when the test advances it, and the cost of an outage is counted in the times
Redis was really asked and failed, not in seconds of a machine that may be busy."""

import logging

import pytest
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone
from factories import BROWSER, redis_store_use
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from common.redis_cluster import redis_cache
from personalization.events import product_view_track
from personalization.state import UNAVAILABLE, Visitor, view_add, visitor_state

pytestmark = pytest.mark.redis


@pytest.fixture
def shop_on(settings, own_redis, shop, model, circuit_clock):
    """The shop's caches and visitors' state on the test's own Redis; retry after 0.5 s."""
    settings.CIS_REDIS_RETRY_SECONDS = 0.5
    redis_store_use(settings, own_redis.url)
    settings.CACHES = {**settings.CACHES, "default": redis_cache(own_redis.url)}
    settings.CACHES["default"]["OPTIONS"]["IGNORE_EXCEPTIONS"] = True
    return own_redis


def circuit_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "common.redis_circuit"]


def test_a_hung_redis_costs_a_process_one_timeout_per_period(shop_on, caplog, redis_failures):
    caplog.set_level(logging.WARNING)
    visitor = Visitor()
    product_view_track(visitor, "RUN-1")
    shop_on.hang()
    states = [visitor_state(visitor) for _ in range(50)]
    views = [product_view_track(visitor, "RUN-2") for _ in range(10)]
    cached = [caches["default"].get("anything") for _ in range(50)]
    assert all(state.notices == (UNAVAILABLE,) for state in states)
    assert all(view.notices == [UNAVAILABLE] for view in views)
    assert cached == [None] * 50
    # one socket timeout (0.25 s), not 110
    assert [type(failure) for failure in redis_failures] == [RedisTimeoutError]
    assert len(circuit_warnings(caplog)) == 1
    assert not [r for r in caplog.records if r.exc_info]  # no traceback


def test_after_the_period_one_request_probes_and_a_redis_back_serves_again(
    shop_on, caplog, circuit_clock
):
    caplog.set_level(logging.WARNING)
    visitor = Visitor()
    product_view_track(visitor, "RUN-1")
    shop_on.hang()
    assert visitor_state(visitor).notices  # opens the circuit
    shop_on.resume()
    assert visitor_state(visitor).notices  # within the period: not asked
    circuit_clock.advance(0.45)
    assert visitor_state(visitor).notices  # still within it
    circuit_clock.advance(0.1)
    assert visitor_state(visitor).skus == ("RUN-1",)  # the probe, answered
    warnings = circuit_warnings(caplog)
    assert len(warnings) == 2 and "answers again" in warnings[1]


def test_a_probe_into_a_redis_still_hung_opens_a_new_period(shop_on, circuit_clock, redis_failures):
    visitor = Visitor()
    product_view_track(visitor, "RUN-1")
    shop_on.hang()
    visitor_state(visitor)
    circuit_clock.advance(0.55)
    for _ in range(20):
        assert visitor_state(visitor).notices
    # the first timeout, then the probe's timeout only
    assert [type(failure) for failure in redis_failures] == [RedisTimeoutError] * 2
    circuit_clock.advance(0.45)  # the new period started with the probe: still in it
    assert visitor_state(visitor).notices and len(redis_failures) == 2


def test_a_killed_and_restarted_redis_is_used_again_after_the_period(
    shop_on, circuit_clock, redis_failures
):
    visitor = Visitor()
    product_view_track(visitor, "RUN-1")
    shop_on.kill()
    for _ in range(20):
        assert product_view_track(visitor, "RUN-2").notices
    assert len(redis_failures) == 1  # refused once, then not asked again
    assert isinstance(redis_failures[0], RedisConnectionError)
    shop_on.start()  # empty: a restarted Redis without persistence
    circuit_clock.advance(0.55)
    tracked = product_view_track(visitor, "RUN-3")
    assert tracked.notices == [] and tracked.state.skus == ("RUN-3",)


def test_with_redis_hung_every_page_answers_fast_and_plain(client, shop_on, redis_failures):
    client.get(reverse("product", args=["RUN-1"]), headers={"User-Agent": BROWSER})
    shop_on.hang()
    pages = [
        client.get(reverse("home")),
        client.get(reverse("product", args=["RUN-3"]), headers={"User-Agent": BROWSER}),
        client.get(reverse("search"), {"q": "shoe"}),
        client.get(reverse("api:search"), {"q": "shoe"}),
        client.get(reverse("api:recommendations")),
    ] * 4
    # 20 pages, one socket timeout (0.25 s) among them all
    assert [type(failure) for failure in redis_failures] == [RedisTimeoutError]
    assert all(page.status_code in (200, 201) for page in pages)
    assert all("Personalization is unavailable" in page.content.decode() for page in pages)


def test_the_circuit_is_per_server(settings, own_redis, redis_url, model, tmp_path):
    """A hung Redis does not stop the process from asking another one."""
    settings.CIS_REDIS_RETRY_SECONDS = 60
    redis_store_use(settings, own_redis.url)
    visitor = Visitor()
    view_add(visitor, "a", viewed_at=timezone.now())
    own_redis.hang()
    assert visitor_state(visitor).notices
    redis_store_use(settings, redis_url)
    view_add(visitor, "b", viewed_at=timezone.now())
    assert visitor_state(visitor).skus == ("b",)
