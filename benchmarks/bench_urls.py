"""The shop's URLs plus a trivial view, the baseline of benchmarks/throughput.py.

Selected through benchmarks/bench_settings.py, so the shop itself never serves /bench/ping/.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from storefront.urls import urlpatterns as shop_urlpatterns


def ping(request: HttpRequest) -> HttpResponse:
    """Nothing but Django's request cycle and middleware: no session, no query, no template."""
    return HttpResponse(b"pong", content_type="text/plain")


urlpatterns = [*shop_urlpatterns, path("bench/ping/", ping, name="bench-ping")]
