"""How often the explorer completes "men's X is to women's X as men's Y is to ?" with a women's
Y on the sample shop, across every pair of categories.

Usage: .venv/bin/python benchmarks/space_analogies.py [--seed 42] [--products 2000]
       [--sessions 50000]
Generates the sample shop as `make demo` does (without pictures) into a temporary folder
(removed at the end), loads it, trains the default model with one worker (as the tests'
`sample_shop` fixture, so that a run is repeatable) and indexes it. Then it asks the explorer
(`personalization.space.explore`, names resolved by search as the page resolves them) every
analogy of the family `sample_shop.audience_analogies` gives: for every two categories
X != Y that have products for men and for women, both ways, "<A>'s X is to <B>'s X as <A>'s Y
is to ?", each category named as its products are ("Men's Running Shoe"). An analogy is right
when the first answer is a Y for B. Printed: the share right first and within the first three,
for Y of X's activity and of another one, with what the wrong first answers were; the same
for the explorer's method before (each name resolved to its first match alone) in the same
run, as the baseline; and the explorer's own example with its first answers.
"""

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from _shop import django_start

EXAMPLE = ("men's running shoe", "women's running shoe", "men's rain jacket")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cis-bench-") as folder:
        django_start(Path(folder))
        run(args, Path(folder))


def run(args: argparse.Namespace, folder: Path) -> None:
    from django.conf import settings

    from catalog.importing import catalog_import
    from catalog.models import Product
    from catalog.search import search_index_rebuild
    from personalization.events import sessions_import
    from personalization.serving import product_vectors_active
    from personalization.space import analogy, explore
    from personalization.training import embeddings_train
    from personalization.versions import training_version_create
    from sample_shop import audience_analogies, sample_data_generate
    from sample_shop.products import CATEGORY_BY_LABEL

    settings.CIS_MODEL_CHECK_SECONDS = 0
    started = time.perf_counter()
    sample = folder / "sample"
    sample_data_generate(
        sample, products=args.products, sessions=args.sessions, seed=args.seed, images=False
    )
    catalog_import(sample / "catalog.csv")
    sessions_import(sample / "sessions.txt", source="sample")
    version = embeddings_train(training_version_create(params={"workers": 1}).pk)
    search_index_rebuild(vectors=product_vectors_active())
    metrics = version.metrics.get("default", {})
    print(
        f"sample shop (seed {args.seed}, {args.products:,} products, {args.sessions:,} sessions) "
        f"loaded and trained in {time.perf_counter() - started:.0f} s; holdout HR@20 "
        f"{metrics.get('hr')}, MRR@20 {metrics.get('mrr')}"
    )

    kinds = {p.sku: (p.category, p.target) for p in Product.objects.all()}
    family = audience_analogies(kinds.values())
    methods = {"kinds (the explorer)": Counter(), "first match alone (before)": Counter()}
    wrong = {name: Counter() for name in methods}
    started = time.perf_counter()
    for question in family:
        scope = "same activity" if question.same_activity else "other activity"
        right = (question.category, question.target)
        found = explore("product", a=question.a, b=question.b, c=question.c, limit=3)
        assert not found.problems, found.problems
        before = analogy(*(term.key for term in found.analogy_terms), limit=3)
        for name, answers in zip(methods, (found.analogy, before), strict=True):
            got = [kinds[sku] for sku, _ in answers]
            tally = methods[name]
            tally[scope] += 1
            tally[scope, "first"] += got[0] == right
            tally[scope, "top 3"] += right in got
            if got[0] != right:
                wrong[name][_miss(got[0], question, kind_of=CATEGORY_BY_LABEL)] += 1
    labels = {question.category for question in family}
    asked = sum(methods["kinds (the explorer)"][s] for s in ("same activity", "other activity"))
    print(
        f"{asked:,} analogies over {len(labels)} categories, "
        f"{(time.perf_counter() - started) / asked * 1000:.0f} ms each (both methods)"
    )
    for name, tally in methods.items():
        print(f"\n{name}:")
        for scope in ("same activity", "other activity"):
            count = tally[scope]
            print(
                f"  Y of {scope:14} {count:5,}: right first {tally[scope, 'first'] / count:6.1%}, "
                f"within 3 {tally[scope, 'top 3'] / count:6.1%}"
            )
        total = sum(tally[s, "first"] for s in ("same activity", "other activity"))
        print(f"  all {asked:,}: right first {total / asked:.1%}")
        print(
            "  wrong first answers: "
            + ", ".join(f"{kind} {count}" for kind, count in wrong[name].most_common())
        )

    found = explore("product", a=EXAMPLE[0], b=EXAMPLE[1], c=EXAMPLE[2], limit=3)
    products = Product.objects.in_bulk([sku for sku, _ in found.analogy])
    print(f"\n{EXAMPLE[0]} : {EXAMPLE[1]} :: {EXAMPLE[2]} : ?")
    for sku, score in found.analogy:
        print(f"  {score:.3f} {products[sku].name}")


def _miss(got: tuple[str, str], question, *, kind_of) -> str:
    """What a wrong first answer was: its category (Y, another of Y's activity, another
    activity) and its audience (B's, right; that of A and C; another)."""
    category, audience = got
    if category == question.category:
        where = "Y"
    elif kind_of[category].activity == kind_of[question.category].activity:
        where = "Y's activity"
    else:
        where = "another activity"
    if audience == question.target:
        audience = "right"
    elif audience in ("men", "women"):
        audience = "A and C's"
    return f"{where} for {audience} audience"


if __name__ == "__main__":
    main()
