"""Where a phone's first screen ends on the shop's grids: how far down the first search result
starts, and whether the product grids end in full rows.

Usage: .venv/bin/python benchmarks/phone_layout.py http://127.0.0.1:8000 [--views 3]
Against a running shop (`make demo`), in Debian's Chromium (Playwright): a visitor views
--views products (so the taste panel is there, as for a returning shopper), then each search
page is opened at 390x844 and the first result card's top (CSS px from the page's top) is
printed; then the search, front and listing pages at common widths, with each grid's column
count and the cards of its last row.
"""

import argparse

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
SEARCHES = [
    "/search/?q=shoes",
    "/search/?q=jacket&target=men&category=running+jackets&sort=price_asc",
]
GRID_PAGES = ["/search/?q=shoes", "/", "/targets/women/"]
WIDTHS = [390, 768, 1024, 1280, 1440]
LAST_ROW = """grid => {
  const tops = [...grid.children].map(item => Math.round(item.getBoundingClientRect().top));
  const columns = tops.filter(top => top === tops[0]).length;
  return [columns, tops.filter(top => top === tops[tops.length - 1]).length, tops.length];
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the shop's address, e.g. http://127.0.0.1:8000")
    parser.add_argument("--views", type=int, default=3)
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        page = phone.new_page()
        page.goto(args.base + "/search/?q=running+shoes")
        links = page.locator(".product-card a").evaluate_all("a => a.map(x => x.href)")
        for href in links[: args.views]:
            page.goto(href)
        for path in SEARCHES:
            page.goto(args.base + path)
            top = page.locator(".product-card").first.evaluate(
                "card => card.getBoundingClientRect().top + window.scrollY"
            )
            print(f"390x844 {path}: first result at y={top:.0f}")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            for path in GRID_PAGES:
                page.goto(args.base + path)
                for grid in page.locator(".product-grid").element_handles():
                    columns, last, count = grid.evaluate(LAST_ROW)
                    print(f"{width:>5} px {path}: {count} cards, {columns} columns, last {last}")
        browser.close()


if __name__ == "__main__":
    main()
