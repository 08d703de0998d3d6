"""The strength dial on the sample shop: a visitor's top 10 for a query at each strength, as the
shop computes it, and how many of them moved from the plain order at each step.

    CIS_DATA_DIR=/tmp/dial-data .venv/bin/python manage.py demo_setup   # once
    CIS_DATA_DIR=/tmp/dial-data .venv/bin/python benchmarks/strength_dial.py
    ... --query jacket --views "running/running shoes/men" --views ...

A view is activity/category/target, resolved to the first such product by SKU (as the judged
relevance suite resolves its cases). The default: a runner's "shoes", three men's running
shoes viewed. Visitors are kept in the data folder's own database (no Redis)."""

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
RUNNER = ["running/running shoes/men"] * 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", default="shoes")
    parser.add_argument("--views", action="append", help="activity/category/target (repeat)")
    parser.add_argument("--top", type=int, default=10)
    options = parser.parse_args()
    if not os.environ.get("CIS_DATA_DIR"):
        raise SystemExit("set CIS_DATA_DIR to a folder demo_setup prepared")
    os.environ.pop("REDIS_URL", None)  # the visitors' views go to the data folder's database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from catalog.models import Product
    from personalization.state import Visitor, view_add
    from storefront.shop.search import search_for_visitor

    views = options.views or RUNNER
    visitor = Visitor()
    names = {}
    for nth, view in enumerate(views):
        activity, category, target = view.split("/")
        products = Product.objects.filter(
            target=target, extra__activity=activity, extra__category=category
        ).order_by("sku")
        product = products[nth if views.count(view) > 1 else 0]
        names[product.sku] = product.name
        view_add(visitor, product.sku, viewed_at=datetime.now(UTC))
    print(f"viewed: {', '.join(f'{sku} {name}' for sku, name in names.items())}")
    print(f"query: {options.query!r}\n")
    tops = {}
    for strength in STRENGTHS:
        outcome = search_for_visitor(
            options.query, visitor=visitor, limit=options.top, strength=strength
        )
        tops[strength] = outcome.results
    products = Product.objects.in_bulk(
        [r.sku for rs in tops.values() for r in rs], field_name="sku"
    )
    plain = [r.sku for r in tops[0.0]]
    for strength, results in tops.items():
        moved = sum(r.sku != sku for r, sku in zip(results, plain, strict=False))
        print(
            f"strength {strength:.2f}: {moved} of {len(results)} places differ from the plain order"
        )
        for r in results:
            product = products[r.sku]
            reason = (
                "you viewed this" if r.viewed else (f"because {r.because}" if r.because else "")
            )
            place = f"{r.position + 1:>2}. (plain {r.plain_position + 1:>3})"
            print(f"  {place} {r.sku} {product.name[:48]:<48} {reason}")
    distinct = len({tuple(r.sku for r in results) for results in tops.values()})
    print(f"\n{distinct} different top {options.top}s over {len(STRENGTHS)} strengths")


if __name__ == "__main__":
    main()
