"""The shop's URLs plus two trivial views, the baselines of benchmarks/throughput.py.

Selected through benchmarks/bench_settings.py, so the shop itself never serves /bench/.
"""

from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.urls import path

from personalization.state import CACHE_ALIAS
from storefront.urls import urlpatterns as shop_urlpatterns

STATE_SIZED = b"x" * 474  # what one visitor's state takes in Redis (50 dimensions, 3 SKUs)


def ping(request: HttpRequest) -> HttpResponse:
    """Nothing but Django's request cycle and middleware: no session, no query, no template."""
    return HttpResponse(b"pong", content_type="text/plain")


def ping_and_read(request: HttpRequest) -> HttpResponse:
    """The trivial view plus one read of a visitor-state-sized value from the personalization
    cache: what the one Redis round trip of a personalized search costs by itself, the
    ceiling of its throughput whatever the search and re-rank cost."""
    cache = caches[CACHE_ALIAS]
    if cache.get("bench:state") is None:
        cache.set("bench:state", STATE_SIZED, 3600)
    return HttpResponse(b"pong", content_type="text/plain")


urlpatterns = [
    *shop_urlpatterns,
    path("bench/ping/", ping, name="bench-ping"),
    path("bench/ping-and-read/", ping_and_read, name="bench-ping-and-read"),
]
