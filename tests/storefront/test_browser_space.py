"""The product map in a real browser: it draws every product, and the visitor's session marker
moves as they view products in another tab."""

import numpy as np
import pytest
from factories import BROWSER, SHOP_VECTORS, version_make

from catalog.models import Product
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


@pytest.fixture
def crowded_map(shop, models_dir, settings):
    """The shop's map with three running shoes and a boot on one spot, and an activity each
    (the sample catalog's column)."""
    from personalization.engine.projection import projection_save

    settings.CIS_MODEL_CHECK_SECONDS = 0
    version = version_make(models_dir, SHOP_VECTORS, with_map=True)
    places = {
        "RUN-1": (0.5, 0.5),
        "RUN-2": (0.5, 0.5),
        "RUN-4": (0.501, 0.5),
        "HIK-1": (0.5, 0.502),
    }
    places |= {"LIF-1": (-0.6, -0.4)}
    coordinates = [places.get(sku, (-0.5 + i / 10, 0.2)) for i, sku in enumerate(SHOP_VECTORS)]
    projection_save(models_dir / version.path, np.array(coordinates))
    for product in Product.objects.all():
        activity = {"RUN": "running", "HIK": "hiking"}.get(product.sku[:3], "lifestyle")
        product.extra |= {"activity": activity}
        product.save()
    version_activate(version)


def test_the_map_colours_by_activity_and_no_step_of_the_path_hides(
    browser, live_server, crowded_map
):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, user_agent=BROWSER)
    try:
        shop = context.new_page()
        for sku in ["RUN-1", "RUN-2", "RUN-4", "LIF-1", "HIK-1"]:
            shop.goto(f"{live_server.url}/products/{sku}/")
        space = context.new_page()
        space.goto(live_server.url + "/space/")
        canvas = space.locator("canvas.space__canvas[data-path='5']")
        canvas.wait_for()
        # The path's markers are drawn once both the session and the map's points have come, in
        # either order: wait for them, then read them.
        canvas.and_(space.locator("[data-path-labels]:not([data-path-labels=''])")).wait_for()
        # Steps on one spot share a marker that names them all; the step elsewhere keeps its own.
        assert canvas.get_attribute("data-path-labels") == "1-3, 5 | 4"
        legend = space.locator("#space-legend li")
        assert legend.all_inner_texts() == ["running (4)", "hiking (3)", "lifestyle (2)"]
        assert legend.first.get_attribute("title") == "running shoes, running shorts"
        space.select_option("#space-colour", "target")
        space.wait_for_selector("canvas.space__canvas[data-groups='2']")  # women, men
        assert legend.first.inner_text().split(" ")[0] in {"men", "women"}
    finally:
        context.close()
