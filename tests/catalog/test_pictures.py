"""catalog.pictures through catalog_import: only whole PNG, JPEG, WebP and GIF pictures reach
the media folder, an SVG drawing arrives drawn into a PNG, and anything else refuses the load
at its line with the catalog and the media folder as they were."""

import io

import pytest
from django.core.management import CommandError, call_command
from factories import picture_bytes
from PIL import Image

from catalog.importing import CatalogImportError, catalog_import
from catalog.models import Product
from catalog.pictures import PictureProblem, picture_kind, picture_type_sniff

HEADER = "sku,name,target,image\n"
PAGE = b"<!doctype html><script src='/media/xssimg/p.js'></script>"
SVG_WITH_SCRIPT = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
    'width="40" height="20"><script href="/media/xssimg/p.js"/>'
    "<script>document.title='ran'</script>"
    '<foreignObject width="9" height="9"><body xmlns="http://www.w3.org/1999/xhtml">'
    "<script>parent.x=1</script></body></foreignObject>"
    '<image xlink:href="/etc/passwd" width="9" height="9"/>'
    '<rect width="40" height="20" fill="#ff0000" onload="alert(1)"/></svg>'
)


def media_files(settings):
    root = settings.MEDIA_ROOT
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.fixture
def loaded(db, write_file, settings):
    """A catalog loaded with one real picture: what a refused load must leave as it was."""
    write_file("shop/images/a1.png", picture_bytes())
    catalog_import(write_file("shop/catalog.csv", HEADER + "A1,Shoe,women,images/a1.png\n"))
    return sorted(Product.objects.values_list("sku", "image")), media_files(settings)


def refused(write_file, rows: str) -> CatalogImportError:
    with pytest.raises(CatalogImportError) as error:
        catalog_import(write_file("shop/catalog.csv", HEADER + rows))
    return error.value


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "GIF", "WEBP"])
def test_each_served_format_is_copied_as_it_is(db, write_file, settings, kind):
    name = f"images/b.{kind.lower()}"
    write_file(f"shop/{name}", picture_bytes(kind))
    catalog_import(write_file("shop/catalog.csv", HEADER + f"B1,Shoe,women,{name}\n"))
    assert (settings.MEDIA_ROOT / name).read_bytes() == picture_bytes(kind)


def test_an_html_page_named_png_refuses_the_load_with_file_line_and_problem(
    loaded, write_file, settings
):
    write_file("shop/xssimg/p.png", PAGE)
    write_file("shop/xssimg/p.js", "document.title = 'ran'")
    error = refused(write_file, "A1,Shoe,women,images/a1.png\nX1,Bait,men,xssimg/p.png\n")
    assert error.path.name == "catalog.csv" and error.line == 3
    assert error.problem == (
        "image 'xssimg/p.png' beside the file is not a PNG, JPEG, WebP or GIF picture "
        "(it is an HTML page)"
    )
    assert (sorted(Product.objects.values_list("sku", "image")), media_files(settings)) == loaded


def test_load_catalog_says_which_file_and_line_hold_the_page(loaded, write_file):
    write_file("shop/xssimg/p.jpg", PAGE)
    path = write_file("shop/catalog.csv", HEADER + "X1,Bait,men,xssimg/p.jpg\n")
    with pytest.raises(CommandError, match=r"catalog\.csv, line 2: image 'xssimg/p\.jpg' beside"):
        call_command("load_catalog", str(path))


def test_an_image_named_as_a_page_refuses_the_load(loaded, write_file, settings):
    """The issue's attack: p.html beside the catalog, named by a row. Whatever serves the media
    folder may type a file by its name, so the name alone refuses it."""
    write_file("shop/xssimg/p.html", picture_bytes())
    error = refused(write_file, "X1,Bait,men,xssimg/p.html\n")
    assert error.line == 2
    assert error.problem.startswith("image 'xssimg/p.html' is not named as a picture")
    assert (sorted(Product.objects.values_list("sku", "image")), media_files(settings)) == loaded


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "GIF", "WEBP"])
def test_a_polyglot_picture_with_a_page_appended_refuses_the_load(
    loaded, write_file, settings, kind
):
    """A whole picture that decodes, followed by HTML: one file, two readings."""
    write_file("shop/images/poly.png", picture_bytes(kind) + PAGE)
    error = refused(write_file, "P1,Poly,men,images/poly.png\n")
    assert error.line == 2
    assert error.problem == (
        f"image 'images/poly.png' beside the file has {len(PAGE)} bytes after the end of its "
        f"{kind} picture (a picture with something else appended)"
    )
    assert (sorted(Product.objects.values_list("sku", "image")), media_files(settings)) == loaded


def test_a_picture_header_on_a_page_refuses_the_load(loaded, write_file, settings):
    """PNG's first eight bytes, then a page: the magic alone does not make a picture."""
    write_file("shop/images/fake.png", b"\x89PNG\r\n\x1a\n" + PAGE)
    error = refused(write_file, "P1,Fake,men,images/fake.png\n")
    assert error.line == 2 and "is not a whole PNG picture" in error.problem
    assert (sorted(Product.objects.values_list("sku", "image")), media_files(settings)) == loaded


def test_a_page_already_in_the_media_folder_is_refused_too(loaded, write_file, settings):
    (settings.MEDIA_ROOT / "xssimg").mkdir()
    (settings.MEDIA_ROOT / "xssimg" / "p.gif").write_bytes(PAGE)
    error = refused(write_file, "X1,Bait,men,xssimg/p.gif\n")
    assert error.problem.startswith("image 'xssimg/p.gif' in the media folder is not a PNG")


def test_an_svg_with_script_arrives_drawn_into_a_png_without_it(db, write_file, settings):
    write_file("shop/logos/s.svg", SVG_WITH_SCRIPT)
    report = catalog_import(write_file("shop/catalog.csv", HEADER + "S1,Logo,men,logos/s.svg\n"))
    assert report.images_copied == 1
    assert Product.objects.get(sku="S1").image == "logos/s.svg.png"
    assert media_files(settings) == ["logos", "logos/s.svg.png"]  # no SVG reaches the media
    drawn = (settings.MEDIA_ROOT / "logos" / "s.svg.png").read_bytes()
    assert picture_type_sniff(drawn) == "image/png" and b"script" not in drawn
    with Image.open(io.BytesIO(drawn)) as picture:
        assert picture.size == (800, 400)  # the drawing's 2:1, fitted to the box
        assert picture.convert("RGB").getpixel((400, 200)) == (255, 0, 0)
    again = catalog_import(write_file("shop/catalog.csv", HEADER + "S1,Logo,men,logos/s.svg\n"))
    assert (again.unchanged, again.images_copied) == (1, 0)


def test_an_svg_that_reads_a_server_file_draws_without_it(db, write_file, settings, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(picture_bytes(color=(0, 0, 255)))
    write_file(
        "shop/s.svg",
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        f'<image href="{secret}" width="10" height="10"/></svg>',
    )
    catalog_import(write_file("shop/catalog.csv", HEADER + "S1,Logo,men,s.svg\n"))
    with Image.open(settings.MEDIA_ROOT / "s.svg.png") as picture:
        assert picture.convert("RGBA").getextrema()[2] == (0, 0)  # no blue: not drawn


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("<html><svg/></html>", "is not a PNG, JPEG, WebP or GIF picture (it is an HTML page)"),
        ("<svg width='9'/>", "is not an SVG drawing (its root element is not <svg xmlns="),
        ("<svg xmlns='http://www.w3.org/2000/svg'><g></svg>", "is not a well-formed SVG drawing"),
        (
            '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>',
            "is not a well-formed SVG drawing: undefined entity",
        ),
    ],
)
def test_an_svg_that_is_no_drawing_refuses_the_load(loaded, write_file, settings, content, problem):
    write_file("shop/logos/bad.svg", content)
    error = refused(write_file, "S1,Logo,men,logos/bad.svg\n")
    assert error.line == 2
    assert error.problem.startswith(f"image 'logos/bad.svg' beside the file {problem}")
    assert (sorted(Product.objects.values_list("sku", "image")), media_files(settings)) == loaded


def test_a_picture_too_large_to_decode_is_refused(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (8_000, 8_000)).save(bomb)  # 64 million pixels in a few kB
    with pytest.raises(PictureProblem, match="8000x8000 pixels, more than 50,000,000"):
        picture_kind(bomb)
