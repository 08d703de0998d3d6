"""The Content-Security-Policy in Chromium, which enforces it: every page of the shop and of the
admin works under it without a single violation, the map draws, a broken picture still falls
back, and markup in a product's name stays text."""

import pytest
from django.contrib.auth.models import User
from factories import BROWSER, SHOP_VECTORS, version_make

from catalog.models import Product
from personalization.affinity import affinity_forget
from personalization.models import EmbeddingVersion
from personalization.versions import version_activate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Recorded from the first script a page runs: each violation the browser reports, and whether
# a script smuggled into a product name ever ran.
RECORDER = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile || location.pathname}:${event.lineNumber}`);
});
"""
HOSTILE_NAME = '"><img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


@pytest.fixture
def hostile_mapped_shop(shop, models_dir, settings):
    """The shop with its map, a product named with markup and one whose picture is gone."""
    settings.CIS_MODEL_CHECK_SECONDS = 0
    version_activate(version_make(models_dir, SHOP_VECTORS, with_map=True))
    Product.objects.filter(sku="RUN-2").update(name=HOSTILE_NAME, target="<b>men</b>")
    Product.objects.filter(sku="RUN-1").update(image="http://127.0.0.1:9/gone.png")
    User.objects.create_superuser("staff", password="a-long-staff-password")
    affinity_forget()
    yield
    affinity_forget()  # the process keeps each version's targets: not these for the next test


def test_every_page_works_under_the_policy_without_a_violation(
    browser, live_server, hostile_mapped_shop
):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, user_agent=BROWSER)
    context.add_init_script(RECORDER)
    problems, console = [], []
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda message: console.append(message.text))

    def visit(path: str, ready: str = "main, #content") -> None:
        response = page.goto(live_server.url + path)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_selector(ready)
        assert page.evaluate("window.__violations") == [], path
        assert page.evaluate("window.__xss") is None, f"{path}: a product name's script ran"

    try:
        visit("/products/RUN-1/")  # views first, so the front page draws the visitor's taste
        image = page.locator(".product-detail__media img")
        page.wait_for_function(
            "img => img.complete && img.src.endsWith('placeholder.svg')",
            arg=image.element_handle(),
        )
        visit("/products/RUN-2/")
        assert page.locator("h1").inner_text() == HOSTILE_NAME  # shown as text, not markup
        visit("/")
        assert page.locator("meter.taste__meter").count() >= 2
        visit("/search/?q=shoe")
        visit("/search/?q=shoe&view=compare")
        visit("/targets/%3Cb%3Emen%3C/b%3E/")
        visit("/space/explore/?of=RUN-2")
        visit("/products/NOPE/")
        visit("/space/")
        canvas = f'canvas.space__canvas[data-points="{len(SHOP_VECTORS)}"]'
        page.wait_for_selector(canvas)  # the map drew every product
        page.wait_for_selector("canvas.space__canvas[data-path='2']")  # and the visitor's path
        assert len(page.locator("canvas.space__canvas").screenshot()) > 2000

        visit("/admin/login/?next=/admin/", "#content")
        page.fill("#id_username", "staff")
        page.fill("#id_password", "a-long-staff-password")
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/")
        version = EmbeddingVersion.objects.get(is_active=True).pk
        for path in [
            "/admin/",
            "/admin/personalization/embeddingversion/",
            f"/admin/personalization/embeddingversion/{version}/change/",
            "/admin/personalization/viewevent/",
            "/admin/catalog/product/",
            "/admin/catalog/product/RUN-2/change/",
            "/admin/catalog/product/add/",
        ]:
            visit(path, "#content")
        assert problems == []  # no script failed either
        assert not [text for text in console if "Content Security Policy" in text]

        # The recorder sees what the policy blocks: an inline script added now does not run.
        page.evaluate(
            """() => { const s = document.createElement("script");
                       s.textContent = "window.__ran = 1"; document.body.append(s); }"""
        )
        page.wait_for_function("window.__violations.length > 0")
        assert page.evaluate("window.__ran") is None
        assert "script-src" in page.evaluate("window.__violations[0]")
    finally:
        context.close()


def test_api_docs_try_it_out_works_under_the_policy_on_a_phone(browser, live_server, shop):
    """Swagger UI draws its icons from `data:` pictures: the docs page allows those (and only
    there), and fits a phone's width."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, user_agent=BROWSER)
    context.add_init_script(RECORDER)
    page = context.new_page()
    try:
        response = page.goto(live_server.url + "/api/docs")
        policy = response.headers["content-security-policy"]
        # (the directives' order is the header's, not fixed: read them by name)
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
        assert directives["img-src"].startswith("'self' https: http: data:")
        assert directives["script-src"] == "'self'"
        page.locator(".opblock-summary").first.click()
        page.get_by_role("button", name="Try it out").first.click()
        page.get_by_role("button", name="Execute").first.wait_for()
        page.wait_for_function("document.fonts.status === 'loaded'")
        assert page.evaluate("window.__violations") == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()
