"""personalization.view_limits: the flood limits on recorded views, on the real Redis (inside the
view's one script) and on the database store (in the cache), with the limits' clock stopped."""

import pytest
import redis
from django.utils import timezone
from factories import REDIS_DOWN_URL, FakeClock, redis_store_use

from personalization import view_limits
from personalization.events import product_view_track
from personalization.models import ViewEvent
from personalization.redis_keys import stream_keys
from personalization.state import Visitor, view_add, visitor_state
from personalization.view_limits import ViewsLimited, client_address

WINDOW_START = 60 * 100_000.0  # a window's first second


@pytest.fixture
def clock(monkeypatch):
    """The limits' clock, 15 s into a window: 45 s left in it."""
    stopped = FakeClock(start=WINDOW_START + 15)
    monkeypatch.setattr(view_limits, "clock", stopped)
    return stopped


def logged(store: str, settings) -> list[tuple[str, str]]:
    """(visitor id, sku) of every view that reached the training data: the stream, or the log."""
    if store == "redis":
        client = redis.Redis.from_url(settings.CACHES["personalization"]["LOCATION"])
        return [
            (fields[b"visitor"].decode(), fields[b"sku"].decode())
            for _, fields in client.xrange(stream_keys()[0])
        ]
    return list(ViewEvent.objects.order_by("id").values_list("session_id", "sku"))


def from_address(peer: str) -> Visitor:
    """A new visitor (no cookie) whose request came from `peer`."""
    return Visitor(address=client_address({"REMOTE_ADDR": peer}))


def view(visitor: Visitor, sku: str):
    return view_add(visitor, sku, viewed_at=timezone.now())


def test_a_visitor_over_the_limit_is_refused_until_the_window_ends(any_store, settings, clock):
    settings.CIS_VIEWS_PER_MINUTE_VISITOR = 3
    visitor = Visitor(address="192.0.2.1")
    for sku in ["a", "b", "c"]:
        view(visitor, sku)
    with pytest.raises(ViewsLimited) as refused:
        view(visitor, "d")
    assert refused.value.retry_after == 45
    clock.advance(44.5)
    with pytest.raises(ViewsLimited) as refused:
        view(visitor, "d")
    assert refused.value.retry_after == 1  # half a second, rounded up
    other = Visitor(address="192.0.2.1")
    view(other, "x")  # another visitor from the same address is not held back
    assert visitor_state(visitor).skus == ("a", "b", "c")
    clock.advance(0.5)  # the next window
    assert view(visitor, "e").state.skus == ("a", "b", "c", "e")
    assert logged(any_store, settings) == [
        (visitor.id, "a"), (visitor.id, "b"), (visitor.id, "c"), (other.id, "x"), (visitor.id, "e")
    ]  # fmt: skip


def test_an_address_over_the_limit_is_refused_whatever_cookie_it_sends(any_store, settings, clock):
    """A flood that makes a new visitor for each view still comes from one address."""
    settings.CIS_VIEWS_PER_MINUTE_ADDRESS = 4
    for _ in range(4):
        view(from_address("2001:db8::1"), "a")
    with pytest.raises(ViewsLimited):
        view(from_address("2001:db8::2"), "a")  # the same /64
    view(from_address("2001:db8:0:1::1"), "a")  # another one
    view(from_address("192.0.2.9"), "a")
    assert len(logged(any_store, settings)) == 6


def test_refused_views_are_not_counted(any_store, settings, clock):
    """A visitor hammering past their limit does not use up their address's views."""
    settings.CIS_VIEWS_PER_MINUTE_VISITOR = 2
    settings.CIS_VIEWS_PER_MINUTE_ADDRESS = 4
    flooder = Visitor(address="192.0.2.1")
    view(flooder, "a")
    view(flooder, "a")
    for _ in range(10):
        with pytest.raises(ViewsLimited):
            view(flooder, "a")
    neighbour = Visitor(address="192.0.2.1")
    view(neighbour, "b")
    view(neighbour, "b")
    assert len(logged(any_store, settings)) == 4


def test_a_limit_of_zero_is_no_limit(any_store, settings, clock):
    settings.CIS_VIEWS_PER_MINUTE_VISITOR = 0
    settings.CIS_VIEWS_PER_MINUTE_ADDRESS = 0
    visitor = Visitor(address="192.0.2.1")
    for _ in range(300):
        view(visitor, "a")
    assert len(logged(any_store, settings)) == 300


def test_views_redis_cannot_take_are_limited_in_the_process(settings, db, clock):
    """Redis down: the views go straight to the event log, still within the limits."""
    redis_store_use(settings, REDIS_DOWN_URL, stream=True)
    settings.CIS_VIEWS_PER_MINUTE_VISITOR = 2
    visitor = Visitor(address="192.0.2.1")
    assert product_view_track(visitor, "a").notices  # unavailable, logged all the same
    product_view_track(visitor, "b")
    with pytest.raises(ViewsLimited):
        product_view_track(visitor, "c")
    assert list(ViewEvent.objects.values_list("sku", flat=True).order_by("id")) == ["a", "b"]


@pytest.mark.parametrize(
    ("meta", "header", "address"),
    [
        ({"REMOTE_ADDR": "192.0.2.1"}, "", "192.0.2.1"),
        # Not configured: a client's X-Forwarded-For is its own say, and ignored.
        ({"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}, "", "192.0.2.1"),
        # Configured: the last address, the one the proxy added; what came before is the client's.
        (
            {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.5, 198.51.100.7"},
            "X-Forwarded-For",
            "198.51.100.7",
        ),
        (
            {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_REAL_IP": "198.51.100.7"},
            "X-Real-IP",
            "198.51.100.7",
        ),
        # The header missing or not an address (a request that bypassed the proxy): the peer.
        ({"REMOTE_ADDR": "10.0.0.2"}, "X-Forwarded-For", "10.0.0.2"),
        (
            {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "bogus"},
            "X-Forwarded-For",
            "10.0.0.2",
        ),
        ({"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"}, "", "2001:db8:1:2::/64"),
        ({"REMOTE_ADDR": "::ffff:192.0.2.1"}, "", "192.0.2.1"),
        ({}, "", None),
    ],
)
def test_the_client_address_is_the_peer_unless_a_proxy_header_is_configured(
    settings, meta, header, address
):
    settings.CIS_CLIENT_ADDRESS_HEADER = header
    assert client_address(meta) == address
