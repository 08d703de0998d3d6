"""The shop's URLs plus two trivial views, the baselines of benchmarks/throughput.py.

Selected through benchmarks/bench_settings.py, so the shop itself never serves /bench/.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from personalization.state import redis_client
from storefront.urls import urlpatterns as shop_urlpatterns

STATE_SIZED = ["RUN-0001", "RUN-0002", "RUN-0003"]  # a visitor's state: a list of 3 SKUs


def ping(request: HttpRequest) -> HttpResponse:
    """Nothing but Django's request cycle and middleware: no session, no query, no template."""
    return HttpResponse(b"pong", content_type="text/plain")


def ping_and_read(request: HttpRequest) -> HttpResponse:
    """The trivial view plus one read of a visitor-sized state (LRANGE of a list of 3 SKUs)
    through the visitor store's connection pool: what the one Redis round trip of a
    personalized request costs by itself, the ceiling of its throughput (C)."""
    client = redis_client()
    if not client.lrange("bench:state", 0, -1):
        client.rpush("bench:state", *STATE_SIZED)
    return HttpResponse(b"pong", content_type="text/plain")


urlpatterns = [
    *shop_urlpatterns,
    path("bench/ping/", ping, name="bench-ping"),
    path("bench/ping-and-read/", ping_and_read, name="bench-ping-and-read"),
]
