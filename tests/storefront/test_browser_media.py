"""The media folder in Chromium: a page or an SVG with script placed there by any means, opened
directly, runs nothing on the shop's origin. The script would leave three marks: the page's
title, an entry in the origin's storage, and a request carrying the visitor's cookies; a
control serves the same files as the shop once did (as a page and an SVG, under the pages'
policy) and sees all three, so the tests see script when it runs."""

import contextlib

import pytest
from factories import BROWSER
from playwright.sync_api import Error as PlaywrightError

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCRIPT = (
    "document.title = 'ran';"
    "localStorage.setItem('ran', location.pathname);"
    "fetch('/beacon/?' + encodeURIComponent(document.cookie));"
)
PAGE = (
    "<!doctype html><title>bait</title><script src='/media/xssimg/p.js'></script>"
    "<script>localStorage.setItem('inline', 'page')</script><p>bait</p>"
)
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
    '<script href="/media/xssimg/p.js"/>'
    "<script>localStorage.setItem('inline', 'svg'); document.title = 'ran'</script>"
    '<rect width="40" height="40" fill="red"/></svg>'
)
FILES = {"p.html": ("text/html", PAGE), "p.svg": ("image/svg+xml", SVG)}


@pytest.fixture
def live_server(monkeypatch, transactional_db):
    """Django's live server, with /media/ answered by the shop's own view as under runserver
    and gunicorn (Django's test server answers it by itself, typed by the file's name)."""
    from django.test import testcases
    from pytest_django.live_server_helper import LiveServer

    monkeypatch.setattr(testcases, "_MediaFilesHandler", lambda application: application)
    server = LiveServer("localhost")
    yield server
    server.stop()


@pytest.fixture
def bait(settings):
    """The issue's files, put straight into the media folder (not by a catalog load)."""
    folder = settings.MEDIA_ROOT / "xssimg"
    folder.mkdir(parents=True)
    (folder / "p.js").write_text(SCRIPT)
    for name, (_, content) in FILES.items():
        (folder / name).write_text(content)


@pytest.fixture
def visit(browser, live_server, bait):
    """A visitor's page (with a csrftoken cookie to steal), the requests it sent to /beacon/,
    and a way to read what the origin's storage holds."""
    context = browser.new_context(user_agent=BROWSER)
    context.add_cookies([{"name": "csrftoken", "value": "secret-token", "url": live_server.url}])
    beacons: list[str] = []
    context.on("request", lambda r: beacons.append(r.url) if "/beacon/" in r.url else None)
    page = context.new_page()

    def storage() -> dict:
        """The origin's storage, read from a page of the shop (a 404 of the media folder)."""
        reader = context.new_page()
        reader.goto(live_server.url + "/media/none.png")
        marks = reader.evaluate("({ran: localStorage.getItem('ran'), "
                                "inline: localStorage.getItem('inline')})")  # fmt: skip
        reader.close()
        return marks

    yield page, beacons, storage
    context.close()


def serve_as_before(page, live_server, name: str, policy: str) -> None:
    """Answer /media/xssimg/NAME and p.js as a server that types files by their names would,
    under `policy` ('page': the pages' policy, as the shop sent them; 'media': the media's)."""
    source = "/products/NOPE/" if policy == "page" else "/media/xssimg/p.js"
    chosen = page.request.get(live_server.url + source).headers["content-security-policy"]
    for file, (content_type, body) in {**FILES, "p.js": ("text/javascript", SCRIPT)}.items():
        if file in (name, "p.js"):
            page.route(f"{live_server.url}/media/xssimg/{file}", answer(content_type, body, chosen))


def answer(content_type: str, body: str, policy: str):
    def fulfil(route) -> None:
        route.fulfill(
            status=200, content_type=content_type, body=body,
            headers={"Content-Security-Policy": policy},
        )  # fmt: skip

    return fulfil


@pytest.mark.parametrize("name", ["p.html", "p.svg"])
def test_control_script_served_as_the_shop_once_did_leaves_its_marks(live_server, visit, name):
    page, beacons, storage = visit
    serve_as_before(page, live_server, name, "page")
    with page.expect_request(lambda request: "/beacon/" in request.url) as beacon:
        page.goto(f"{live_server.url}/media/xssimg/{name}")
    assert page.title() == "ran"
    assert "csrftoken%3D" in beacon.value.url  # it read the visitor's cookie
    assert storage()["ran"] == f"/media/xssimg/{name}"


@pytest.mark.parametrize("name", ["p.html", "p.svg"])
def test_files_placed_in_media_and_opened_directly_run_no_script(live_server, visit, name):
    """The real server: neither is a picture by its bytes, so each is a download."""
    page, beacons, storage = visit
    with page.expect_download() as download:
        with contextlib.suppress(PlaywrightError):  # "Download is starting"
            page.goto(f"{live_server.url}/media/xssimg/{name}")
    assert download.value.suggested_filename == name
    assert storage() == {"ran": None, "inline": None}
    page.goto(live_server.url + "/media/none.png")  # a later page load flushes any request
    assert beacons == []


@pytest.mark.parametrize("name", ["p.html", "p.svg"])
def test_the_media_policy_alone_stops_script_even_when_typed_as_a_page(live_server, visit, name):
    """Behind a server that types the files by name (as the control), the media's own policy
    is what remains: the same files run nothing under it."""
    page, beacons, storage = visit
    serve_as_before(page, live_server, name, "media")
    response = page.goto(f"{live_server.url}/media/xssimg/{name}")
    assert "sandbox" in response.headers["content-security-policy"]
    assert page.title() != "ran"  # the control's script had set it by now
    assert storage() == {"ran": None, "inline": None}
    page.goto(live_server.url + "/media/none.png")
    assert beacons == []


def test_a_picture_in_media_opens_as_a_picture(live_server, visit, settings):
    from factories import picture_bytes

    page, _, _ = visit
    (settings.MEDIA_ROOT / "xssimg" / "a.png").write_bytes(picture_bytes())
    response = page.goto(f"{live_server.url}/media/xssimg/a.png")
    assert response.headers["content-type"] == "image/png"
    assert page.evaluate("document.images.length && document.images[0].naturalWidth") == 12
