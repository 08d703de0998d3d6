"""What the built-in engine answers for shoppers' words on the sample shop, and what broad
queries cost: the words a shopper types that the catalog spells otherwise (synonyms), misspelt
(corrections), and plain ones to check nothing else moved.

Usage: .venv/bin/python benchmarks/search_vocabulary.py [--products 2000] [--rounds 200]
       [--synonyms sample_shop/synonyms.txt]
Generates the sample shop's catalog (seed 42, as `make demo`), indexes it in a temporary
folder and prints, per query: how many products match, what the engine understood (when it
searched something else than what was typed) and the first 5 names. Then the p50 and p99 of
the broad queries and of the shoppers' words above (top 200, the answer cache off),
`--rounds` times each.
"""

import argparse
import statistics
import time
from pathlib import Path

from _shop import ROOT, django_start

QUERIES = ["shirt", "t shirt", "t-shirt", "tshirt", "trainers", "backpak", "backpack", "sheos",
           "jacket"]  # fmt: skip
BROAD = ["shoes", "men", "running", "jacket", "kids"]
WINDOW = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--synonyms", type=Path, default=ROOT / "sample_shop" / "synonyms.txt")
    args = parser.parse_args()
    data_dir = django_start()

    from django.conf import settings

    settings.CIS_SEARCH_CACHE_ENTRIES = 0  # the engine itself, not answers kept
    settings.CIS_SYNONYMS_FILE = args.synonyms
    from catalog.models import Product
    from catalog.search.embedded import EmbeddedSearch
    from sample_shop import products_generate

    catalog = [
        Product(sku=p.sku, name=p.name, target=p.target, extra={"category": p.category})
        for p in products_generate(args.products, seed=42)
    ]
    engine = EmbeddedSearch(Path(data_dir) / "search-index")
    engine.index_rebuild(catalog)
    for query in QUERIES:
        hits = engine.search(query, limit=5)
        count = engine.facets(query).total
        understood = getattr(hits, "understood", None)
        said = f" (showing results for {understood!r})" if understood else ""
        print(f"{query!r}: {count}{said}")
        for hit in hits:
            print(f"    {hit.name}")

    for label, queries in (("broad queries", BROAD), ("shoppers' words", QUERIES)):
        times = []
        for _ in range(args.rounds):
            for query in queries:
                started = time.perf_counter()
                engine.search(query, limit=WINDOW)
                times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p50, p99 = statistics.median(times), times[int(0.99 * (len(times) - 1))]
        print(f"{label}, top {WINDOW}, {args.rounds} rounds: ms p50 {p50:.3f}, p99 {p99:.3f}")


if __name__ == "__main__":
    main()
