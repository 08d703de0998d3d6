"""Which of the project's modules one request passes through: the layering, measured.

Usage: .venv/bin/python benchmarks/request_modules.py [--products 300] [--sessions 3000]
Loads a small generated shop into a fresh SQLite database in a temporary folder (removed at
the end), trains a product model, builds the built-in search index, and has a browser view
three products, so its searches are personalized. Then, after one untraced warm-up of each, it
traces one request of each kind with `sys.setprofile` and prints, per request: the project
modules whose Python functions ran (in the order first entered) and how many calls each took;
the path across apps (each change of app a step); and how often the request looked up the
search engine, the active model and the cleaned query. The embedded defaults: no Redis, no
broker, no search server.
"""

import argparse
import shutil
import sys
from collections import Counter

from _shop import BROWSER, django_start, shop_load, shop_train_and_index

PROJECT_PACKAGES = ("catalog", "common", "personalization", "storefront")
# Functions whose calls are counted: an engine built from the settings, the active model
# looked up, the visitor's query cleaned.
LOOKUPS = ("backend_from_settings", "model_active", "search_query_clean")
REQUESTS = [
    ("GET /api/search/?q=shoes", "/api/search/", {"q": "shoes"}),
    ("GET /search/?q=shoes", "/search/", {"q": "shoes"}),
    ("GET /api/recommendations/", "/api/recommendations/", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--sessions", type=int, default=3000)
    args = parser.parse_args()
    data_dir = django_start()
    try:
        run(args, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def run(args: argparse.Namespace, data_dir) -> None:
    from django.test import Client

    from catalog.models import Product

    shop_load(data_dir, products=args.products, sessions=args.sessions)
    shop_train_and_index(params={"epochs": 2})
    client = Client(HTTP_USER_AGENT=BROWSER)
    running = Product.objects.filter(name__icontains="running").values_list("sku", flat=True)
    for sku in list(running)[:3]:
        client.get(f"/products/{sku}/")
    personalized = client.get("/api/search/", {"q": "shoes"}).json()["personalized"]
    assert personalized, "the traced searches should be personalized"
    for label, path, query in REQUESTS:
        client.get(path, query)  # warm: the model, the index reader and the caches are loaded
        calls, apps, lookups = traced(lambda path=path, query=query: client.get(path, query))
        print(f"{label}: {len(calls)} project modules")
        for module, count in calls.items():
            print(f"  {module:<45} {count:>5} calls")
        print(f"  apps, in call order ({len(apps) - 1} changes): {' > '.join(apps)}")
        print("  lookups: " + ", ".join(f"{name} x{lookups[name]}" for name in LOOKUPS))


def traced(request) -> tuple[Counter, list[str], Counter]:
    """The project modules whose functions `request()` called (in first-call order), the apps
    they belong to in call order (repeats collapsed), and the calls of LOOKUPS."""
    calls: Counter = Counter()
    apps: list[str] = []
    lookups: Counter = Counter()

    def profile(frame, event, arg):
        if event == "call":
            module = frame.f_globals.get("__name__", "")
            app = module.split(".")[0]
            if app in PROJECT_PACKAGES:
                calls[module] += 1
                if not apps or apps[-1] != app:
                    apps.append(app)
                if frame.f_code.co_name in LOOKUPS:
                    lookups[frame.f_code.co_name] += 1

    sys.setprofile(profile)
    try:
        response = request()
    finally:
        sys.setprofile(None)
    assert response.status_code == 200, response.status_code
    return calls, apps, lookups


if __name__ == "__main__":
    main()
