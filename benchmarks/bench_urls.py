"""The shop's URLs plus baselines: two trivial views (benchmarks/throughput.py) and the API's
search without its framework (benchmarks/api_overhead.py).

Selected through benchmarks/bench_settings.py, so the shop itself never serves /bench/.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from catalog.search import FACETS, RELEVANCE
from personalization.middleware import reads_visitor_state
from personalization.state import redis_client
from storefront.api import csrf_cookie_when_missing, search_json
from storefront.shop import FILTER_CHARS, search_page
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


@reads_visitor_state(unless=lambda request: request.GET.get("personalize") == "0")
@csrf_cookie_when_missing
def search_plain(request: HttpRequest) -> JsonResponse:
    """GET /api/search/ as a plain Django view, its parameters read by hand as before the API
    had a framework (unchecked: the benchmark sends good ones), the same search and answer."""
    given = request.GET
    personalize = given.get("personalize", "1") == "1"
    page = search_page(
        given.get("q", ""),
        visitor=request.visitor,
        limit=int(given.get("limit", 10)),
        personalize=personalize,
        strength=float(given.get("strength", 1)),
        filters={field: given.get(field, "")[:FILTER_CHARS] for field in FACETS},
        page=int(given.get("page", 1)),
        sort=given.get("sort", RELEVANCE),
        counted=given.get("facets") == "1",
    )
    return JsonResponse(search_json(page))


urlpatterns = [
    *shop_urlpatterns,
    path("bench/ping/", ping, name="bench-ping"),
    path("bench/ping-and-read/", ping_and_read, name="bench-ping-and-read"),
    path("bench/search-plain/", search_plain, name="bench-search-plain"),
]
