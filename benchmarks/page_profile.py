"""Where a page's time goes: one page requested many times in process under cProfile, its time
split by what did the work (template rendering, the database, Redis, the search engine, the
recommender, the rest of Django and the project).

Usage: .venv/bin/python benchmarks/page_profile.py [--page product|search|search-plain|home|
       api-search] [--bot] [--requests 300] [--products 2000] [--sessions 5000] [--top 25]
Loads a generated shop into a fresh SQLite database in a temporary folder (removed at the end),
trains a product model (2 epochs: what a page costs does not depend on the model's quality) and
builds the search index; visitors' state lives in a redis-server of this script's own; DEBUG is
off (benchmarks/bench_settings.py), as in benchmarks/throughput.py. A browser views three
running shoes, so it has a state; `--bot` requests as a crawler (no cookie) instead. After 50
unprofiled requests (the model loaded, caches warm), `--requests` requests are profiled.
Printed: the time per request (wall, without the profiler: a separate timed run), each part's
share of the profiled time (a function's own time is given to the first part found on its
call stack, innermost first), the queries per request, and the functions with the most
cumulative and own time.
"""

import argparse
import cProfile
import os
import pstats
import time
from collections import Counter

from _shop import BROWSER, ROOT, django_with_redis, shop_load, shop_train_and_index

PAGES = {
    "product": ("/products/{sku}/", {}),
    "search": ("/search/", {"q": "shoes"}),
    "search-plain": ("/search/", {"q": "shoes", "personalize": "0"}),
    "home": ("/", {}),
    "api-search": ("/api/search/", {"q": "shoes"}),
}
# Parts, by the file a function is defined in (the first that matches, innermost frame first).
PARTS = [
    ("templates", ("django/template", "/templatetags/", "django/utils/html")),
    ("database", ("django/db/", "sqlite3", "psycopg")),
    ("redis", ("redis/", "django_redis/", "hiredis")),
    ("search engine", ("catalog/search/", "tantivy")),
    ("recommender", ("personalization/engine/", "numpy/", "scipy/", "gensim/", "lightgbm/")),
    ("project", tuple(f"{ROOT}/{package}/" for package in ("storefront", "catalog", "common"))),
    ("project", (f"{ROOT}/personalization/",)),
    ("django", ("django/",)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", choices=sorted(PAGES), default="product")
    parser.add_argument("--bot", action="store_true", help="as a crawler: no cookie")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.bench_settings")
    with django_with_redis() as (data_dir, _):
        shop_load(data_dir, products=args.products, sessions=args.sessions)
        shop_train_and_index(params={"epochs": 2})
        run(args)


def run(args: argparse.Namespace) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

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
    with CaptureQueriesContext(connection) as queries:
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
    print(
        f"GET {path} {params or ''} as {'a crawler' if args.bot else 'a visitor with a state'}: "
        f"{per_request:.2f} ms per request ({args.requests} requests, no profiler); "
        f"{len(queries)} queries: " + "; ".join(q["sql"][:70] for q in queries.captured_queries)
    )
    shares = parts_split(stats)
    total = sum(shares.values())
    print("profiled time by part: " + ", ".join(
        f"{part} {100 * seconds / total:.0f}%" for part, seconds in shares.most_common()
    ))  # fmt: skip
    for key in ("cumulative", "tottime"):
        print(f"\ntop {args.top} by {key} time:")
        stats.sort_stats(key).print_stats(args.top)


def parts_split(stats: pstats.Stats) -> Counter:
    """Each function's own time given to the first part its own file, or its callers' files
    (innermost first, following the first caller), belongs to."""
    shares: Counter = Counter()
    for function, (_, _, own, _, callers) in stats.stats.items():
        chain, seen = [function], {function}
        while callers and len(chain) < 40:
            caller = next(iter(callers))
            if caller in seen:
                break
            chain.append(caller)
            seen.add(caller)
            callers = stats.stats.get(caller, (0, 0, 0, 0, {}))[4]
        shares[next((part for frame in chain if (part := part_of(frame[0]))), "other")] += own
    return shares


def part_of(filename: str) -> str | None:
    for part, markers in PARTS:
        if any(marker in filename for marker in markers):
            return part
    return None


if __name__ == "__main__":
    main()
