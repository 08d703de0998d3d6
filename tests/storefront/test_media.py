"""storefront.views.media: a file of the media folder typed by its bytes, never its name, with
nosniff and the media's own policy, whatever put it there."""

import pytest
from factories import picture_bytes

from storefront.views import MEDIA_POLICY

PAGE = b"<!doctype html><script src='/media/xssimg/p.js'></script>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>document.title="ran"</script></svg>'


@pytest.fixture
def media(settings):
    root = settings.MEDIA_ROOT
    (root / "x").mkdir(parents=True)

    def put(name: str, content: bytes) -> str:
        (root / "x" / name).write_bytes(content)
        return f"/media/x/{name}"

    return put


def streamed(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_a_picture_is_sent_inline_with_its_type_nosniff_and_the_media_policy(
    client, media, kind, content_type
):
    url = media(f"a.{kind.lower()}", picture_bytes(kind))
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == MEDIA_POLICY
    assert not response.get("Content-Disposition", "").startswith("attachment")
    assert streamed(response) == picture_bytes(kind)


def test_the_type_comes_from_the_bytes_not_the_name(client, media):
    response = client.get(media("really-a-gif.png", picture_bytes("GIF")))
    assert response["Content-Type"] == "image/gif"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("p.html", PAGE),
        ("p.js", b"document.title = 'ran'"),
        ("p.svg", SVG),
        ("p.png", PAGE),  # a page named as a picture
        ("p.svgz", SVG),  # a name that `serve` would give a Content-Encoding
        ("empty.png", b""),
    ],
)
def test_anything_else_is_a_download_that_no_browser_runs(client, media, name, content):
    response = client.get(media(name, content))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == "attachment"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == MEDIA_POLICY
    assert "Content-Encoding" not in response
    assert streamed(response) == content


def test_the_media_policy_forbids_script_and_sandboxes_the_document():
    directives = dict(
        (part.strip().split(" ", 1) + [""])[:2] for part in MEDIA_POLICY.split(";") if part
    )
    assert "sandbox" in directives and directives["default-src"] == "'none'"
    assert "script-src" not in directives  # falls back to default-src 'none'


def test_a_head_request_and_a_revalidation_carry_the_headers_too(client, media):
    url = media("a.png", picture_bytes())
    head = client.head(url)
    assert head.status_code == 200 and head["Content-Type"] == "image/png"
    again = client.get(url, headers={"If-Modified-Since": head["Last-Modified"]})
    assert again.status_code == 304
    assert again["Content-Security-Policy"] == MEDIA_POLICY


def test_a_missing_file_or_a_folder_is_not_found_and_outside_is_refused(db, client, media):
    media("a.png", picture_bytes())
    assert client.get("/media/x/none.png").status_code == 404
    assert client.get("/media/x/").status_code == 404
    assert client.get("/media/../db.sqlite3").status_code in (400, 404)
    assert client.post("/media/x/a.png").status_code == 405
