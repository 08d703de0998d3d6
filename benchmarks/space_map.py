"""The product map with 50,000 products: how long training spends drawing it, how big its data
is, and how long Chromium takes to load and draw /space/.

Usage: .venv/bin/python benchmarks/space_map.py [--products 50000] [--sessions 100000]
       [--epochs 5] [--screenshot map.png] [--views 4]
Loads a generated shop into a fresh SQLite database in a temporary folder (removed at the end),
trains a product model (`--epochs` fewer than the default 40 for speed; the map's cost does not
depend on them) with no holdout, then serves the shop with gunicorn (2 workers, DEBUG off) and
opens /space/ in Debian's Chromium (Playwright). A visitor first views --views running products,
so the map shows a session path. Printed: the t-SNE time against the training's other phases
(same run), the size of /api/space/ raw and gzipped, and the page's load time: the data's
fetch and parse plus the first draw (measured by the page itself), and navigation to drawn.
"""

import argparse
import gzip
import time
from pathlib import Path

from _shop import BROWSER, django_with_redis, shop_load, shop_train_and_index

CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=50_000)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--screenshot", type=Path, help="save the drawn map as this PNG")
    args = parser.parse_args()
    with django_with_redis() as (data_dir, redis_server):
        run(args, data_dir, redis_server.url)


def run(args: argparse.Namespace, data_dir: Path, redis_url: str) -> None:
    from django.conf import settings
    from django.test import Client
    from throughput import Gunicorn

    from catalog.search import catalog_search

    shop_load(data_dir, products=args.products, sessions=args.sessions)
    settings.CIS_HOLDOUT_SHARE = 0.0
    version, _ = shop_train_and_index(params={"epochs": args.epochs})
    timings = version.timings
    print(f"{args.products:,} products; model v{version.pk}, {version.vocabulary:,} vectors")
    print("training phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    drawing, training = timings.get("drawing the map", 0), timings.get("training", 1)
    print(f"drawing the map / training the embeddings: {drawing / training:.2f}x")

    body = Client().get("/api/space/").content
    print(f"/api/space/: {len(body) / 1e6:.1f} MB, gzipped {len(gzip.compress(body)) / 1e6:.1f} MB")

    server = Gunicorn(data_dir, workers=2, redis_url=redis_url)
    try:
        from playwright.sync_api import sync_playwright

        viewed = [hit.sku for hit in catalog_search("running", limit=args.views).hits]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            context = browser.new_context(
                viewport={"width": 1280, "height": 1000}, user_agent=BROWSER
            )
            # gunicorn serves no static files (a web server or CDN does, in production):
            # the shop's own come from disk, which leaves the data and the drawing measured.
            context.route("**/static/**", static_from_disk)
            page = context.new_page()
            base = f"http://127.0.0.1:{server.port}"
            for sku in viewed:
                page.goto(f"{base}/products/{sku}/")
            for round_ in range(3):  # the first is cold (gunicorn builds the map's data once)
                started = time.perf_counter()
                page.goto(f"{base}/space/")
                page.wait_for_selector("canvas.space__canvas[data-points]", timeout=120_000)
                page.wait_for_selector("canvas.space__canvas[data-path]", timeout=30_000)
                total = time.perf_counter() - started
                canvas = page.locator("canvas.space__canvas")
                print(
                    f"load {round_ + 1}{' (cold)' if round_ == 0 else ''}: navigation to drawn "
                    f"{total:.2f} s; the page's own fetch + parse + first draw "
                    f"{float(canvas.get_attribute('data-load-seconds')):.2f} s; "
                    f"{canvas.get_attribute('data-points')} points, "
                    f"path of {canvas.get_attribute('data-path')}"
                )
            if args.screenshot:
                page.locator("#space").screenshot(path=str(args.screenshot))
                print(f"screenshot: {args.screenshot}")
            browser.close()
    finally:
        server.stop()


def static_from_disk(route) -> None:
    from urllib.parse import urlparse

    from _shop import ROOT

    relative = urlparse(route.request.url).path.removeprefix("/static/")
    path = (ROOT / "static" / relative).resolve()
    if path.is_file() and (ROOT / "static") in path.parents:
        route.fulfill(path=str(path))
    else:
        route.fulfill(status=404, body="not found")


if __name__ == "__main__":
    main()
