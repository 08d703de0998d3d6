"""What browsing as each persona of CIS_PERSONAS does to its own query on the demo shop: the
products it views, and the top 5 of its query, plain and personalized, as target/category.

Usage: .venv/bin/python benchmarks/personas_search.py [--data var] [--top 5]
Reads the shop `make demo` (or `manage.py demo_setup`) prepared in --data, with its active
model, through the pages and the API as a browser would (Django's test client: nothing is
served). Each persona's views are real views: they go to the event log as the demo's do.
"""

import argparse
import os
from collections import Counter
from pathlib import Path

from _shop import BROWSER, ROOT, django_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "var")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    django_start(args.data)
    run(args.top)


def run(top: int) -> None:
    from django.conf import settings
    from django.test import Client

    from catalog.models import Product

    def described(skus: list[str]) -> list[str]:
        found = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
        return [f"{found[sku].target}/{found[sku].extra.get('category')}" for sku in skus]

    for persona in settings.CIS_PERSONAS:
        client = Client(HTTP_USER_AGENT=BROWSER)
        client.post(f"/personas/{persona['slug']}/", {"next": "/"})
        viewed = client.get("/api/profile/").json()["viewed"]
        print(f"{persona['name']}, {persona['who']}: viewed {', '.join(described(viewed))}")
        for personalize in ("0", "1"):
            answer = client.get(
                "/api/search/", {"q": persona["query"], "personalize": personalize, "limit": top}
            ).json()
            tops = Counter(described([r["sku"] for r in answer["results"]]))
            label = "personalized" if answer["personalized"] else "plain"
            shown = ", ".join(f"{count} {kind}" for kind, count in tops.most_common())
            print(f"  {persona['query']!r} {label:>12}: {shown}")


if __name__ == "__main__":
    main()
