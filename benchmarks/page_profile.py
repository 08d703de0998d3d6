"""Where a page's time goes: one page requested many times in process under cProfile, its time
split by what did the work (template rendering, the database, Redis, the search engine, the
recommender, the rest of Django and the project).

Usage: .venv/bin/python benchmarks/page_profile.py [--page product|search|search-plain|home|
       api-search|api-search-plain|ping-and-read] [--bot] [--requests 300] [--products 2000]
       [--sessions 5000] [--top 25]
Loads a generated shop into a fresh SQLite database in a temporary folder (removed at the end),
trains a product model (2 epochs: what a page costs does not depend on the model's quality) and
builds the search index; visitors' state lives in a redis-server of this script's own; DEBUG is
off (benchmarks/bench_settings.py), as in benchmarks/throughput.py. A browser views three
running shoes, so it has a state; `--bot` requests as a crawler (no cookie) instead. After 50
unprofiled requests (the model loaded, caches warm), `--requests` requests are profiled.
Printed: the time per request (wall, without the profiler: a separate timed run), the share of
the profiled request spent rendering templates, in the database, in Redis, in the search
engine and in the recommender, the queries per request, and the functions with the most
cumulative and own time.
"""

import argparse
import cProfile
import pstats
import time

from _shop import BROWSER, shop_in_process

PAGES = {
    "product": ("/products/{sku}/", {}),
    "search": ("/search/", {"q": "shoes"}),
    "search-plain": ("/search/", {"q": "shoes", "personalize": "0"}),
    "home": ("/", {}),
    "api-search": ("/api/search/", {"q": "shoes"}),
    "api-search-plain": ("/api/search/", {"q": "shoes", "personalize": "0"}),
    "ping-and-read": ("/bench/ping-and-read/", {}),
}
# Parts of a request: the functions whose cumulative time is each part's (a part's functions
# called inside another of its functions are counted once), as (file ends with, function).
PARTS = {
    "the whole request": [("django/core/handlers/base.py", "get_response")],
    "template rendering": [("django/template/loader.py", "render_to_string")],
    "database": [("django/db/models/sql/compiler.py", "execute_sql")],
    "redis": [("redis/client.py", "execute_command"), ("redis/client.py", "execute")],
    "search engine": [("catalog/search/__init__.py", "catalog_search")],
    "recommender": [
        ("personalization/engine/model.py", name)
        for name in ("recommend", "similar", "session_vector", "scores_batch")
    ]
    + [("personalization/engine/reranking.py", "results_rerank")],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", choices=sorted(PAGES), default="product")
    parser.add_argument("--bot", action="store_true", help="as a crawler: no cookie")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--save", help="write the profile here (pstats), to read its callers")
    args = parser.parse_args()
    with shop_in_process(products=args.products, sessions=args.sessions):
        run(args)


def run(args: argparse.Namespace) -> None:
    from django.test import Client

    from catalog.search import catalog_search

    running = [hit.sku for hit in catalog_search("running shoes", limit=4).hits]
    visitor = Client(HTTP_USER_AGENT=BROWSER)
    for sku in running[:3]:
        assert visitor.get(f"/products/{sku}/").status_code == 200
    client = Client(HTTP_USER_AGENT="curl/8.5.0") if args.bot else visitor
    path, params = PAGES[args.page]
    path = path.format(sku=running[3])

    def request() -> None:
        response = client.get(path, params)
        assert response.status_code == 200, response.status_code

    for _ in range(50):
        request()
    started = time.perf_counter()
    for _ in range(args.requests):
        request()
    per_request = (time.perf_counter() - started) / args.requests * 1000
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.requests):
        request()
    profile.disable()

    stats = pstats.Stats(profile)
    if args.save:
        stats.dump_stats(args.save)
    print(
        f"GET {path} {params or ''} as {'a crawler' if args.bot else 'a visitor with a state'}: "
        f"{per_request:.2f} ms per request ({args.requests} requests, no profiler); "
        f"{queries_per_request(stats, args.requests):g} queries per request"
    )
    whole = parts_time(stats)
    total = whole.pop("the whole request")
    print(
        f"of the profiled request ({1000 * total / args.requests:.2f} ms): "
        + ", ".join(f"{part} {100 * seconds / total:.0f}%" for part, seconds in whole.items())
        + "; the rest is Django's request cycle, middleware and the views' own code"
    )
    for key in ("cumulative", "tottime"):
        print(f"\ntop {args.top} by {key} time:")
        stats.sort_stats(key).print_stats(args.top)


def queries_per_request(stats: pstats.Stats, requests: int) -> float:
    calls = sum(
        primitive
        for (filename, _, name), (primitive, *_) in stats.stats.items()
        if filename.endswith("django/db/backends/utils.py") and name == "_execute"
    )
    return calls / requests


def parts_time(stats: pstats.Stats) -> dict[str, float]:
    """Each part's cumulative seconds: its functions' cumulative times, less what their calls
    to one another already count."""
    times = {}
    for part, entries in PARTS.items():
        mine = {
            function
            for function in stats.stats
            if any(function[0].endswith(end) and function[2] == name for end, name in entries)
        }
        seconds = 0.0
        for function in mine:
            _, _, _, cumulative, callers = stats.stats[function]
            # the time of calls from another of the part's functions is inside that one's
            seconds += cumulative - sum(callers[c][3] for c in callers if c in mine)
        times[part] = seconds
    return times


if __name__ == "__main__":
    main()
