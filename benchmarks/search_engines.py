"""The built-in engine's search cost: tantivy (today's) against SQLite FTS5 (the engine before,
kept here only as the baseline), on the same generated catalog, in one run.

Usage: .venv/bin/python benchmarks/search_engines.py [--products 50000] [--rounds 30]
       [--distinct 500] [--no-fts5]
Generates `--products` products (the sample shop's generator, seed 42), builds both indexes in
a temporary folder, and asks each engine for the top 200 (the re-rank window) and the display
fields of the 10 a page shows, as the shop asks for them (FTS5 read the fields of all 200;
tantivy reads 200 product codes, then the fields of the 10), with the built-in engine's answer
cache off, for: the broad queries below, `--rounds` times each, the engines taking turns; and
`--distinct` two-word queries drawn from product names, once each. Printed:
build times, p50 and p99 per engine and query set, and FTS5's p99 over tantivy's (target: at
least 20); for the broad queries also tantivy's floor (each word as one term of the name field,
top 200, nothing read: what tantivy itself costs on this machine) and the search's p50 and p99
over it, which compare across machines where milliseconds do not. `--no-fts5` measures tantivy
alone (for a million products).
"""

import argparse
import random
import sqlite3
import statistics
import time
from pathlib import Path

import tantivy
from _shop import django_start

BROAD = ["shoes", "men", "running", "jacket", "kids"]
WINDOW = 200
SHOWN = 10
TARGET = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--distinct", type=int, default=500)
    parser.add_argument("--no-fts5", action="store_true", help="tantivy alone")
    args = parser.parse_args()
    data_dir = django_start()

    from django.conf import settings

    from catalog.models import Product

    settings.CIS_SEARCH_CACHE_ENTRIES = 0  # the engines themselves, not answers kept
    from catalog.search.embedded import EmbeddedSearch
    from sample_shop import products_generate

    started = time.perf_counter()
    catalog = [
        Product(
            sku=p.sku,
            name=p.name,
            target=p.target,
            image=f"images/{p.sku}.png",
            extra={"category": p.category, "color": p.color, "price": p.price},
        )
        for p in products_generate(args.products, seed=42)
    ]
    print(f"{len(catalog):,} products generated in {time.perf_counter() - started:.1f} s")
    engines = {}
    started = time.perf_counter()
    tantivy_engine = EmbeddedSearch(Path(data_dir) / "search-index")
    tantivy_engine.index_rebuild(catalog)
    print(f"tantivy index built in {time.perf_counter() - started:.1f} s")

    def tantivy_search(query: str) -> list:
        hits = tantivy_engine.search(query, limit=WINDOW)
        tantivy_engine.products_stored([hit.sku for hit in hits[:SHOWN]])
        return hits

    engines["tantivy"] = tantivy_search

    def tantivy_floor(query: str) -> list:
        """One term in one field over the same index, top 200, nothing read: what any query
        of that word costs tantivy itself (on a machine twice as slow, twice as much)."""
        from catalog.search import embedded

        searcher = embedded._reader(tantivy_engine.path).index.searcher()
        term = embedded.tokens(query)[0]
        found = tantivy.Query.term_query(embedded.schema(), "name", term)
        return searcher.search(found, WINDOW, count=False).hits

    floor = {"floor": tantivy_floor}
    if not args.no_fts5:
        started = time.perf_counter()
        fts5 = Fts5(Path(data_dir) / "search.sqlite3", catalog)
        print(f"FTS5 index built in {time.perf_counter() - started:.1f} s")
        engines["fts5"] = fts5.search

    names = [p.name for p in catalog]
    rng = random.Random(7)
    distinct: set[str] = set()
    while len(distinct) < args.distinct:
        words = [w for w in rng.choice(names).lower().replace(",", " ").split() if w.isalpha()]
        if len(words) >= 2:
            start = rng.randrange(len(words) - 1)
            distinct.add(f"{words[start]} {words[start + 1]}")
    query_sets = {"broad": BROAD * args.rounds, f"{args.distinct} distinct": sorted(distinct)}
    for engine in engines.values():  # warm: readers opened, pages cached
        for query in BROAD:
            engine(query)

    print(f"\nmilliseconds per search: top {WINDOW}, display fields of the first {SHOWN}")
    print(f"{'queries':<16}{'engine':<10}{'p50':>9}{'p99':>9}{'matches of the first':>24}")
    for label, queries in query_sets.items():
        measured = engines | floor if label == "broad" else engines
        times: dict[str, list[float]] = {name: [] for name in measured}
        for query in queries:
            for name, engine in sorted(measured.items(), key=lambda _: rng.random()):
                started = time.perf_counter()
                hits = engine(query)
                times[name].append((time.perf_counter() - started) * 1000)
                assert hits, (name, query)
        for name in measured:
            first = len(measured[name](queries[0]))
            print(
                f"{label:<16}{name:<10}{statistics.median(times[name]):>9.3f}"
                f"{percentile(times[name], 0.99):>9.3f}{first:>24}"
            )
        if "floor" in times:
            p50 = statistics.median(times["tantivy"]) / statistics.median(times["floor"])
            p99 = percentile(times["tantivy"], 0.99) / percentile(times["floor"], 0.99)
            print(f"{'':<16}tantivy / floor (one term, one field): p50 {p50:.2f}, p99 {p99:.2f}")
        if "fts5" in times:
            ratio = percentile(times["fts5"], 0.99) / percentile(times["tantivy"], 0.99)
            verdict = "met" if ratio >= TARGET else "MISSED"
            print(f"{'':<16}p99 FTS5 / p99 tantivy: {ratio:.1f} (target >= {TARGET:g}: {verdict})")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Fts5:
    """The FTS5 engine as it was (schema 3): BM25 with column weights, Porter stemming, every
    word required, else any; each word quoted. Kept only to measure against."""

    BM25 = "bm25(products, 0.0, 10.0, 2.0, 4.0, 0.0, 0.0)"

    def __init__(self, path: Path, catalog):
        import json

        connection = sqlite3.connect(path)
        connection.executescript(
            "CREATE VIRTUAL TABLE products USING fts5(sku UNINDEXED, name, target, category,"
            " image UNINDEXED, extra UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2');"
        )
        connection.executemany(
            "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)",
            ((p.sku, p.name, p.target, p.category, p.image, json.dumps(p.extra)) for p in catalog),
        )
        connection.execute("INSERT INTO products(products) VALUES ('optimize')")
        connection.commit()
        self.connection = connection

    def search(self, query: str) -> list[tuple]:
        from catalog.search.base import search_words

        quoted = ['"' + word.replace('"', '""') + '"' for word in search_words(query)]
        rows = self._matches(" AND ".join(quoted))
        if not rows and len(quoted) > 1:
            rows = self._matches(" OR ".join(quoted))
        return rows

    def _matches(self, expression: str) -> list[tuple]:
        return self.connection.execute(
            f"SELECT sku, {self.BM25} AS rank, name, target, image, extra FROM products "
            "WHERE products MATCH ? ORDER BY rank LIMIT ?",
            (expression, WINDOW),
        ).fetchall()


if __name__ == "__main__":
    main()
