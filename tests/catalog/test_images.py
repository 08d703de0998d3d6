"""catalog.images: which image values a product may have, with a reason for each refusal, for a
catalog load and an admin edit alike."""

import pytest
from django.core.exceptions import ValidationError

from catalog.images import image_problem, image_validate
from catalog.models import Product, image_url_for

GOOD = [
    "",
    "https://img.example.com/a1.png",
    "http://img.example.com/a1.png",
    "HTTPS://IMG.EXAMPLE.COM/A1.PNG",
    "https://img.example.com:8443/shop/a1.png?w=400&h=400#main",
    "https://cdn.example.co.uk/p/%E2%9C%93/shoe%20red.jpg",
    "https://xn--bcher-kva.example/a.png",
    "http://127.0.0.1:9/nope.png",
    "http://[::1]:8000/a.png",
    "https://localhost/a.png",
    "https://example.com",
    "https://img.example.com/a(1)+b,c;d=e!f*g~h_i.png",
    "images/a1.png",
    "a1.png",
    "images/sub/A-1_b.2~3+4,5=6@7(8)!.webp",
    "images/café.png",
    "images/靴.png",
]

BAD = [
    ('https://x.invalid/a.png"onerror="alert(6)', "'\"', which a URL may not contain"),
    ("https://x.example/a.png'onerror='alert(6)", '"\'", which a URL may not contain'),
    ("https://x.example/<script>.png", "'<', which a URL may not contain"),
    ("https://x.example/a`b.png", "'`', which a URL may not contain"),
    ("https://x.example/a\\b.png", "'\\\\', which a URL may not contain"),
    ("https://x.example/a{b}.png", "'{', which a URL may not contain"),
    ("https://x.example/a|b.png", "'|', which a URL may not contain"),
    ("https://x.example/a^b.png", "'^', which a URL may not contain"),
    ("https://x.example/a b.png", "whitespace (U+0020)"),
    ("https://x.example/a\u00a0b.png", "whitespace (U+00A0)"),
    ("https://x.example/a\tb.png", "control character (U+0009)"),
    ("https://x.example/a\nb.png", "control character (U+000A)"),
    ("https://x.example/a\x00.png", "control character (U+0000)"),
    ("https://x.example/a\x85.png", "control character (U+0085)"),
    ("https://x.example/\u202egnp.exe", "control character (U+202E)"),
    ("https://x.example/a\u200b.png", "control character (U+200B)"),
    ("https://x.example/a\ud800.png", "control character (U+D800)"),
    ("https://x.example/é.png", "not ASCII: percent-encode it"),
    ("https://bücher.example/a.png", "not ASCII"),
    ("https://x.example/a%zz.png", "'%' that is not followed by two hex digits"),
    ("https://x.example/a%2.png", "'%' that is not followed by two hex digits"),
    ("https://x.example/100%", "'%' that is not followed by two hex digits"),
    ("https://user:secret@x.example/a.png", "user name or password"),
    ("https://evil.example@x.example/a.png", "user name or password"),
    ("https://x.example:99999/a.png", "invalid port"),
    ("https://x.example:0/a.png", "invalid port"),
    ("https://x.example:port/a.png", "invalid port"),
    ("https:///a.png", "not a valid http(s) URL"),
    ("https://", "not a valid http(s) URL"),
    ("https://-x.example/a.png", "not a valid http(s) URL"),
    ("https://x..example/a.png", "not a valid http(s) URL"),
    ("https://x_y.example/a.png", "not a valid http(s) URL"),
    ("https://[::g]/a.png", "not a valid http(s) URL"),
    ("https://[::1/a.png", "not a valid http(s) URL"),
    ("https://x.example]/a.png", "not a valid http(s) URL"),
    ("https://999.1.1.1/a.png", "not a valid http(s) URL"),
    ("https://" + "a" * 64 + ".example/a.png", "not a valid http(s) URL"),
    ("http:/x.example/a.png", "neither an http(s) URL nor a relative path"),
    ("http:x.example/a.png", "neither an http(s) URL nor a relative path"),
    ("javascript:alert(1)", "neither an http(s) URL nor a relative path"),
    ("JaVaScRiPt:alert(1)", "neither an http(s) URL nor a relative path"),
    ("data:image/png;base64,AA", "neither an http(s) URL nor a relative path"),
    ("vbscript:msgbox(1)", "neither an http(s) URL nor a relative path"),
    ("ftp://x.example/a.png", "neither an http(s) URL nor a relative path"),
    ("file:///etc/passwd", "neither an http(s) URL nor a relative path"),
    ("C:\\images\\a.png", "neither an http(s) URL nor a relative path"),
    ("/etc/passwd", "not absolute"),
    ("//evil.example/x.png", "not absolute"),
    ("\\\\server\\share\\a.png", "not absolute"),
    ("../../secret.png", "must not leave the media folder"),
    ("images/../../secret.png", "must not leave the media folder"),
    ("images/..", "must not leave the media folder"),
    ("images//a.png", "empty or '.' path segment"),
    ("images/./a.png", "empty or '.' path segment"),
    ("images/", "empty or '.' path segment"),
    (".", "empty or '.' path segment"),
    ('images/a.png"onerror="alert(1)', "contains '\"': a media path may hold"),
    ("images/a.png'", 'contains "\'": a media path may hold'),
    ("images\\a.png", "contains '\\\\': a media path may hold"),
    ("images/a.png?v=2", "contains '?': a media path may hold"),
    ("images/a.png#x", "contains '#': a media path may hold"),
    ("images/a%20b.png", "contains '%': a media path may hold"),
    ("images/a;b.png", "contains ';': a media path may hold"),
    ("images/a&b.png", "contains '&': a media path may hold"),
    ("images/<b>.png", "contains '<': a media path may hold"),
    ("images/a b.png", "whitespace (U+0020)"),
    ("images/a\u3000b.png", "whitespace (U+3000)"),
    ("images/e\u0301.png", "contains '\u0301': a media path may hold"),
    ("images/a\x1b[31m.png", "control character (U+001B)"),
]


@pytest.mark.parametrize("image", GOOD)
def test_good_images_are_accepted(image):
    assert image_problem(image) is None
    image_validate(image)


@pytest.mark.parametrize(("image", "problem"), BAD, ids=[repr(image)[:50] for image, _ in BAD])
def test_bad_images_are_refused_with_the_reason(image, problem):
    found = image_problem(image)
    assert found is not None and problem in found, found
    assert found.startswith("image ")
    with pytest.raises(ValidationError):
        image_validate(image)


def test_a_long_refused_image_is_shortened_in_the_message():
    found = image_problem("https://x.example/" + "a" * 2000 + '"')
    assert found is not None and len(found) < 200


def test_an_upper_case_scheme_is_a_url_not_a_media_path(settings):
    assert image_url_for("HTTPS://IMG.EXAMPLE.COM/A1.PNG") == "HTTPS://IMG.EXAMPLE.COM/A1.PNG"
    assert image_url_for("images/a1.png") == settings.MEDIA_URL + "images/a1.png"


def test_the_admin_refuses_what_a_catalog_load_refuses(db):
    product = Product(sku="A1", name="Shoe", target="men", image='images/a.png"onerror="x')
    with pytest.raises(ValidationError) as error:
        product.full_clean()
    assert "a media path may hold" in str(error.value.message_dict["image"])
    product.image = "images/a.png"
    product.full_clean()
