"""The product map in a real browser: it draws every product, and the visitor's session marker
moves as they view products in another tab."""

import pytest
from factories import BROWSER, SHOP_VECTORS, version_make

from personalization.versions import version_activate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def mapped_shop(shop, models_dir, settings):
    settings.CIS_MODEL_CHECK_SECONDS = 0
    version_activate(version_make(models_dir, SHOP_VECTORS, with_map=True))


MARKER_MOVED = """([x, y]) => {
  const canvas = document.querySelector("canvas.space__canvas");
  const now = canvas.dataset;
  return now.markerX && (now.markerX !== x || now.markerY !== y);
}"""


def marker(page) -> tuple[str, str, str]:
    canvas = page.locator("canvas.space__canvas")
    return tuple(
        canvas.get_attribute(f"data-{name}") or "" for name in ("marker-x", "marker-y", "path")
    )


def test_the_map_draws_the_products_and_the_marker_follows_two_views(
    browser, live_server, mapped_shop
):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, user_agent=BROWSER)
    try:
        errors = []
        space = context.new_page()
        space.on("pageerror", lambda error: errors.append(str(error)))
        space.goto(live_server.url + "/space/")
        space.wait_for_selector(f'canvas.space__canvas[data-points="{len(SHOP_VECTORS)}"]')
        space.wait_for_selector("canvas.space__canvas[data-path='0']")
        assert marker(space)[:2] == ("", "")
        assert space.locator("#space-legend li").count() >= 2  # women, men

        shop = context.new_page()  # the same visitor, browsing in another tab
        seen = []
        for sku in ["RUN-1", "HIK-1"]:
            shop.goto(f"{live_server.url}/products/{sku}/")
            space.bring_to_front()
            before = marker(space)
            space.wait_for_function(
                MARKER_MOVED,
                arg=list(before[:2]),
                timeout=10_000,
            )
            seen.append(marker(space))
        assert [path for _, _, path in seen] == ["1", "2"]
        assert seen[0][:2] != seen[1][:2]  # the marker moved from running towards hiking
        pixels = space.locator("canvas.space__canvas").screenshot()
        assert len(pixels) > 2000  # something was drawn
        assert errors == []
    finally:
        context.close()
