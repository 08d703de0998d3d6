"""Search latency: what personalization adds to GET /api/search/, against one Redis round trip.

Usage: .venv/bin/python benchmarks/search_latency.py [--products 50000] [--sessions 100000]
       [--epochs 5] [--rounds 100]
Loads a generated shop into a fresh SQLite database in a temporary folder (removed at the end),
trains a product model (`--epochs` fewer than the default 40 to keep it quick, and no holdout
so no evaluation: neither changes what a request costs), and builds the search index with its
vectors. Visitors' state lives in a redis-server of this script's own. DEBUG is off; the
settings are benchmarks/bench_settings.py, which add the trivial views /bench/ping/ and
/bench/ping-and-read/ (the same plus one read of a visitor-sized state from Redis).

In one process, one django.test.Client, a browser that viewed 3 running shoes, in each round:
the two trivial views, then each query with personalize=1 and personalize=0 back to back
(which one first alternating), for --rounds rounds after a warm-up. Printed: p50 / p90 of each
per query and for all, the median of the paired differences personalized - plain, and the
target: that median at most the median of the paired differences
ping-and-read - ping, the cost of one Redis round trip measured in the same run. Then where one
personalized request spends its time.
"""

import argparse
import os
import statistics
import time

from _shop import BROWSER, django_with_redis, shop_load, shop_train_and_index

QUERIES = ["shoes", "jacket", "running", "women shorts", "men", "running shoes"]
TARGET = 1.10


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=50_000)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    parser.add_argument("--rounds", type=int, default=100, help="requests per query and mode")
    parser.add_argument("--warmup", type=int, default=5, help="rounds not measured")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.bench_settings")
    with django_with_redis() as (data_dir, _):
        run(args, data_dir)


def run(args: argparse.Namespace, data_dir) -> None:
    from django.conf import settings

    started = time.perf_counter()
    shop_load(data_dir, products=args.products, sessions=args.sessions)
    loaded = time.perf_counter() - started
    settings.CIS_HOLDOUT_SHARE = 0.0

    version, index = shop_train_and_index(params={"epochs": args.epochs})
    print(
        f"{args.products:,} products, {args.sessions:,} sessions loaded in {loaded:.0f} s; "
        f"model v{version.pk}: {version.params['epochs']} epochs (default 40, fewer for speed), "
        f"no holdout, {version.vocabulary:,} products with a vector "
        f"({version.vocabulary / args.products:.1%}), trained in {version.training_seconds:.0f} s; "
        f"{index.backend} index of {index.products:,} in {index.seconds:.1f} s"
    )

    from django.test import Client

    from catalog.search import catalog_search

    client = Client(HTTP_USER_AGENT=BROWSER)
    viewed = [hit.sku for hit in catalog_search("running shoes", limit=3).hits]
    for sku in viewed:
        assert client.get(f"/products/{sku}/").status_code == 200
    answer = client.get("/api/search/", {"q": "shoes"}).json()
    assert answer["personalized"], answer
    print(f"visitor viewed {', '.join(viewed)}; Redis at {settings.CACHES['default']['LOCATION']}")

    measure(client, args)

    breakdown(client, rounds=args.rounds)


def measure(client, args: argparse.Namespace) -> None:
    times: dict[tuple[str, str], list[float]] = {(q, m): [] for q in QUERIES for m in "10"}
    pings: dict[str, list[float]] = {"/bench/ping/": [], "/bench/ping-and-read/": []}

    def timed(path: str, params: dict | None = None) -> float:
        start = time.perf_counter()
        response = client.get(path, params or {})
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, (path, response.status_code)
        return elapsed * 1000

    for round_ in range(args.warmup + args.rounds):
        for path in pings if round_ % 2 else reversed(pings):
            elapsed = timed(path)
            if round_ >= args.warmup:
                pings[path].append(elapsed)
        for query in QUERIES:
            for mode in ("1", "0") if round_ % 2 else ("0", "1"):
                elapsed = timed("/api/search/", {"q": query, "personalize": mode})
                if round_ >= args.warmup:
                    times[query, mode].append(elapsed)

    print(f"{args.rounds} rounds, interleaved; milliseconds per request (django.test.Client)")
    header = f"{'query':<16}{'plain p50':>10}{'p90':>8}{'person. p50':>13}{'p90':>8}"
    print(f"{header}{'ratio p50':>11}{'added p50':>11}")
    everything = {"1": [], "0": [], "diff": []}
    for query in QUERIES:
        personal, plain = times[query, "1"], times[query, "0"]
        diffs = [a - b for a, b in zip(personal, plain, strict=True)]
        everything["1"] += personal
        everything["0"] += plain
        everything["diff"] += diffs
        line(query, plain, personal, diffs)
    print("-" * 77)
    line("all queries", everything["0"], everything["1"], everything["diff"])
    ping, ping_read = pings["/bench/ping/"], pings["/bench/ping-and-read/"]
    round_trip = statistics.median([b - a for a, b in zip(ping, ping_read, strict=True)])
    added = statistics.median(everything["diff"])
    print(
        f"\ntrivial view p50 {statistics.median(ping):.3f} ms, with one Redis read "
        f"{statistics.median(ping_read):.3f} ms: one round trip adds {round_trip * 1000:.0f} us "
        f"(median of the paired differences)"
    )
    verdict = "met" if added <= round_trip else "MISSED"
    print(
        f"personalization adds {added * 1000:.0f} us to /api/search/ (median of the paired "
        f"differences); target <= one Redis round trip ({round_trip * 1000:.0f} us): {verdict}"
    )


def line(label: str, plain: list[float], personal: list[float], diffs: list[float]) -> None:
    ratio = statistics.median(personal) / statistics.median(plain)
    print(
        f"{label:<16}{statistics.median(plain):>10.2f}{percentile(plain, 0.9):>8.2f}"
        f"{statistics.median(personal):>13.2f}{percentile(personal, 0.9):>8.2f}"
        f"{ratio:>11.3f}{statistics.median(diffs):>+11.2f}"
    )


def breakdown(client, *, rounds: int) -> None:
    """The steps of one personalized "shoes" search, each timed on its own, median of `rounds`."""
    from django.conf import settings

    from catalog.search import catalog_search
    from personalization.engine.reranking import results_rerank
    from personalization.serving import model_active
    from personalization.state import COOKIE_NAME, Visitor, visitor_state

    visitor = Visitor(client.cookies[COOKIE_NAME].value)
    model = model_active()
    steps: dict[str, list[float]] = {}

    def timed(name, action, *args, **kwargs):
        start = time.perf_counter()
        result = action(*args, **kwargs)
        steps.setdefault(name, []).append((time.perf_counter() - start) * 1000)
        return result

    weight, window = settings.CIS_RERANK_WEIGHT, settings.CIS_RERANK_WINDOW
    for _ in range(rounds):
        state = timed("visitor state read (one Redis LRANGE)", visitor_state, visitor)
        vector = timed("session vector (kept per process)", state.vector, model)
        found = timed(f"search (top {window})", catalog_search, "shoes", limit=window)
        timed(
            f"re-rank, personalized ({window} x d; top 10 built, explained)",
            results_rerank,
            found.hits,
            session_vector=vector,
            recommender=model.recommender,
            weight=weight,
            viewed_skus=state.skus,
            limit=10,
        )
        timed(
            "re-rank, plain (personalize=0, the comparison view)",
            results_rerank,
            found.hits,
            session_vector=None,
            recommender=None,
            weight=weight,
            limit=10,
        )
        for mode, label in (("1", "personalized"), ("0", "plain")):
            timed(
                f"whole request, {label}",
                client.get,
                "/api/search/",
                {"q": "shoes", "personalize": mode},
            )
    from personalization.state import redis_client

    client_of_redis = redis_client()
    for _ in range(rounds):
        timed("for scale: one Redis PING round trip", client_of_redis.ping)
    print(f'\none personalized "shoes" search, step by step (median of {rounds}, ms)')
    for name, values in steps.items():
        print(f"  {name:<42}{statistics.median(values):>8.3f}")


if __name__ == "__main__":
    main()
