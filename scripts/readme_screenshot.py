"""The README's picture: the sample shop's "shoes", plain beside personalized, after a visitor
has viewed three men's running shoes, taken from the real pages so that it never goes stale.

Usage: make screenshot   (or .venv/bin/python scripts/readme_screenshot.py [--out PATH])
Runs `manage.py demo_setup` (the sample shop as `make demo` makes it, in CIS_DATA_DIR, by
default var/: quick when the demo already ran, about a minute on 2 cores when not), serves it
with `manage.py runserver` on a free port, and in Chromium (CHROMIUM_PATH, default
/usr/bin/chromium) views the first three results of "men's running shoes" as one visitor, then
opens /search/?q=shoes&view=compare and photographs its table, written as a palette PNG.
"""

import argparse
import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img" / "shoes-plain-vs-personalized.png"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
RUNNER_QUERY = "men's running shoes"
VIEWS = 3
ROWS = 8  # of the compare table: enough to show the order moving, small enough to read
WIDTH = 1100
COLOURS = 128  # a palette PNG: product pictures are flat drawings, so it stays sharp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "demo_setup"], cwd=ROOT, check=True)
    port = _free_port()
    server = subprocess.Popen(
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_serving(base, server)
        picture = _photograph(base)
    finally:
        server.terminate()
        server.wait(timeout=15)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(picture)
    print(f"Wrote {args.out.relative_to(ROOT)} ({len(picture) / 1024:.0f} KB).")


def _photograph(base: str) -> bytes:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": WIDTH, "height": 900})
        page.goto(f"{base}/search/?q={RUNNER_QUERY}")
        links = page.locator(".product-grid a[href*='/products/']")
        viewed = list(dict.fromkeys(links.evaluate_all("links => links.map(a => a.href)")))
        for url in viewed[:VIEWS]:
            page.goto(url)
        page.goto(f"{base}/search/?q=shoes&view=compare")
        table = page.locator("table.compare__table")
        table.wait_for()
        page.wait_for_function(
            "() => [...document.images].every(image => image.complete)"
        )  # lazy thumbnails below the fold are out of the picture
        page.evaluate(
            f"""() => document.querySelectorAll("table.compare__table tbody tr")
                      .forEach((row, i) => {{ if (i >= {ROWS}) row.remove(); }})"""
        )
        shot = page.locator("main").screenshot()
        browser.close()
    with Image.open(io.BytesIO(shot)) as image:
        small = image.convert("RGB").quantize(COLOURS, method=Image.Quantize.MEDIANCUT)
        out = io.BytesIO()
        small.save(out, "PNG", optimize=True)
        return out.getvalue()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(base: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"runserver exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/favicon.ico", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"runserver did not answer on {base} within {timeout:.0f} s")


if __name__ == "__main__":
    main()
