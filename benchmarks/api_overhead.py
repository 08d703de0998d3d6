"""What the API's framework (django-ninja) costs GET /api/search/, against the same search in a
plain Django view.

Usage: .venv/bin/python benchmarks/api_overhead.py [--products 2000] [--sessions 5000]
       [--requests 2000] [--block 20]
Loads a generated shop into a fresh SQLite database in a temporary folder (removed at the end),
trains a product model (2 epochs: what a request costs does not depend on the model's quality)
and builds the search index; visitors' state lives in a redis-server of this script's own; DEBUG
is off (benchmarks/bench_settings.py). In one process, through django.test.Client, `--requests`
requests of /api/search/?q=shoe and as many of /bench/search-plain/?q=shoe (the same search and
answer, its parameters read by hand, as the API was written before it had a framework),
alternating blocks of `--block` so that the machine's load falls on both alike; once for a new
visitor (a plain search) and once for a visitor who viewed three running shoes (personalized).
Printed: the median per request over the blocks, of each and their ratio, in wall-clock time and
in this process's CPU time (what the framework adds is CPU work, and CPU time is less at the
mercy of other processes on a shared machine).
"""

import argparse
import statistics
import time

from _shop import BROWSER, shop_in_process

PATHS = {"ninja": "/api/search/", "plain": "/bench/search-plain/"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=2000, help="of each, per visitor")
    parser.add_argument("--block", type=int, default=20, help="requests in a row of one")
    args = parser.parse_args()
    with shop_in_process(products=args.products, sessions=args.sessions):
        run(args)


def run(args: argparse.Namespace) -> None:
    from django.test import Client

    from catalog.search import catalog_search

    new, returning = Client(HTTP_USER_AGENT=BROWSER), Client(HTTP_USER_AGENT=BROWSER)
    for hit in catalog_search("running shoes", limit=3).hits:
        assert returning.get(f"/products/{hit.sku}/").status_code == 200
    for label, client in [("new visitor (plain)", new), ("returning visitor", returning)]:
        answers = {name: client.get(path, {"q": "shoe"}).json() for name, path in PATHS.items()}
        assert answers["ninja"] == answers["plain"], "the two must answer the same"
        personalized = answers["ninja"]["personalized"]
        timings = blocks(client, args)
        print(f"{label}, personalized={personalized}: {args.requests:,} requests of each")
        for clock, per_request in timings.items():
            ninja, plain = (statistics.median(per_request[name]) for name in ("ninja", "plain"))
            print(
                f"  {clock:>4} us per request (median of {len(per_request['ninja'])} blocks): "
                f"django-ninja {ninja:.0f}, plain view {plain:.0f}, "
                f"ratio {ninja / plain:.3f} ({ninja - plain:+.0f} us)"
            )


def blocks(client, args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    for path in PATHS.values():  # warm: the model, the index reader, the caches
        for _ in range(50):
            client.get(path, {"q": "shoe"})
    timings: dict[str, dict[str, list[float]]] = {
        clock: {name: [] for name in PATHS} for clock in ("wall", "cpu")
    }
    for number in range(args.requests // args.block):
        order = list(PATHS) if number % 2 else list(reversed(PATHS))
        for name in order:
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.block):
                response = client.get(PATHS[name], {"q": "shoe"})
            timings["wall"][name].append((time.perf_counter() - wall) / args.block * 1e6)
            timings["cpu"][name].append((time.process_time() - cpu) / args.block * 1e6)
            assert response.status_code == 200
    return timings


if __name__ == "__main__":
    main()
