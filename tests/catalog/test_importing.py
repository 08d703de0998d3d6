"""catalog.importing.catalog_import: the CSV rules, all-or-nothing loads and idempotence."""

import pytest
from django.core.management import CommandError, call_command
from factories import picture_bytes

from catalog.importing import CatalogImportError, catalog_import
from catalog.models import Product

HEADER = "sku,name,target,image\n"
GOOD = HEADER + (
    "A1,Women's Running Shoe,women,https://img.example.com/a1.png\n"
    'B2,"Men\'s Rain Jacket, Olive",men,images/b2.png\n'
    "C3,Kids' Fleece,kids,\n"
)


def catalog_snapshot():
    return sorted(Product.objects.values_list("sku", "name", "target", "image", "extra"))


@pytest.fixture
def loaded(db, write_file):
    """The database after GOOD was loaded; tests then try to spoil it."""
    catalog_import(write_file("first.csv", GOOD))
    return catalog_snapshot()


def test_import_creates_products_with_quoted_commas(db, write_file):
    report = catalog_import(write_file("catalog.csv", GOOD))
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    jacket = Product.objects.get(sku="B2")
    assert jacket.name == "Men's Rain Jacket, Olive"
    assert jacket.image_url == "/media/images/b2.png"
    assert Product.objects.get(sku="A1").image_url == "https://img.example.com/a1.png"
    assert Product.objects.get(sku="C3").image_url.endswith("placeholder.svg")


def test_import_accepts_utf8_bom_and_crlf(db, write_file):
    content = "\ufeff" + GOOD.replace("\n", "\r\n")
    report = catalog_import(write_file("bom.csv", content.encode("utf-8")))
    assert report.created == 3
    assert Product.objects.filter(sku="A1").exists()


def test_import_accepts_the_cr_line_ends_of_old_mac_exports_and_counts_their_lines(db, write_file):
    report = catalog_import(write_file("mac.csv", GOOD.replace("\n", "\r")))
    assert report.created == 3
    assert Product.objects.get(sku="B2").name == "Men's Rain Jacket, Olive"
    with pytest.raises(CatalogImportError) as error:
        catalog_import(write_file("mac-bad.csv", (GOOD + ",Empty sku,men,\n").replace("\n", "\r")))
    assert (error.value.line, error.value.problem) == (5, "empty sku")


def test_import_keeps_extra_columns_as_data(db, write_file):
    path = write_file(
        "extra.csv",
        "sku,name,target,image,category,price\nA1,Shoe,women,,running shoes,89.95\n"
        "A2,Sock,women,,,\n",
    )
    catalog_import(path)
    assert Product.objects.get(sku="A1").extra == {"category": "running shoes", "price": "89.95"}
    assert Product.objects.get(sku="A2").extra == {}


def test_import_accepts_newline_inside_quoted_field_and_counts_lines(db, write_file):
    path = write_file(
        "multiline.csv", HEADER + 'A1,"Shoe,\nwith two lines",women,\n,Empty sku,men,\n'
    )
    with pytest.raises(CatalogImportError) as error:
        catalog_import(path)
    assert error.value.line == 4  # the quoted newline makes the second row start on line 4
    assert "empty sku" in str(error.value)


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        ("sku,name,image\nA1,Shoe,\n", 1, "missing required column(s) target"),
        (HEADER + "A1,Shoe,women,\n,Boot,men,\n", 3, "empty sku"),
        (HEADER + "A1,Shoe,women,\nA1,Boot,men,\n", 3, "duplicate sku 'A1' (first on line 2)"),
        (HEADER + "A1,Shoe,women,javascript:alert(1)\n", 2, "neither an http(s) URL"),
        (HEADER + 'A1,Shoe,women,"data:image/png;base64,AA"\n', 2, "neither an http(s) URL"),
        (HEADER + "A1,Shoe,women,/etc/passwd\n", 2, "not absolute"),
        (HEADER + "A1,Shoe,women,//evil.example/x.png\n", 2, "not absolute"),
        (HEADER + "A1,Shoe,women,../../secret.png\n", 2, "must not leave the media folder"),
        (
            HEADER + 'A1,Shoe,women,"https://x.invalid/a.png""onerror=""alert(6)"\n',
            2,
            "which a URL may not contain unencoded",
        ),
        (HEADER + "A1,Shoe,women,https://user:pw@x.example/a.png\n", 2, "user name or password"),
        (HEADER + "A1,Shoe,women\n", 2, "expected 4 fields like the header, found 3"),
        (HEADER + "A 1,Shoe,women,\n", 2, "contains whitespace"),
        (HEADER + "A1,,women,\n", 2, "empty name"),
        (HEADER + 'A1,"Shoe"x,women,\n', 2, "malformed CSV"),
        ("", 1, "the file is empty"),
    ],
)
def test_import_rejects_bad_row_and_keeps_database(loaded, write_file, content, line, problem):
    path = write_file("bad.csv", content)
    with pytest.raises(CatalogImportError) as error:
        catalog_import(path, prune=True)
    assert error.value.line == line
    assert problem in error.value.problem
    assert str(path) in str(error.value)
    assert catalog_snapshot() == loaded


def test_import_rejects_undecodable_line_and_keeps_database(loaded, write_file):
    content = (HEADER + "A1,Shoe,women,\n").encode() + b"B2,Sh\xff\xfee,men,\n"
    with pytest.raises(CatalogImportError) as error:
        catalog_import(write_file("latin1.csv", content))
    assert error.value.line == 3
    assert "not valid UTF-8" in error.value.problem
    assert catalog_snapshot() == loaded


def test_import_rejects_a_nul_anywhere_and_keeps_database(loaded, write_file):
    # Python's csv module reads a NUL; PostgreSQL can store it neither in text nor in JSON.
    for content, line in [
        (HEADER + "A1,Sh\x00oe,women,\n", 2),
        ("sku,name,target,image,col\x00\nA1,Shoe,women,,x\n", 1),
    ]:
        with pytest.raises(CatalogImportError) as error:
            catalog_import(write_file("nul.csv", content))
        assert error.value.line == line and error.value.problem.startswith("a NUL character")
        assert catalog_snapshot() == loaded


def test_failed_import_changes_nothing_even_when_the_error_is_late(loaded, write_file):
    """Good rows before the bad one (an update and a new product) must not be written."""
    content = HEADER + "A1,Renamed Shoe,women,\nZ9,New Product,men,\nZ9,Twice,men,\n"
    with pytest.raises(CatalogImportError):
        catalog_import(write_file("late.csv", content))
    assert catalog_snapshot() == loaded


def test_loading_the_same_file_twice_changes_nothing(db, write_file):
    path = write_file("catalog.csv", GOOD)
    catalog_import(path)
    stamps = dict(Product.objects.values_list("sku", "updated_at"))
    report = catalog_import(path)
    assert (report.created, report.updated, report.unchanged, report.pruned) == (0, 0, 3, 0)
    assert dict(Product.objects.values_list("sku", "updated_at")) == stamps


def test_changed_row_updates_its_product_only(loaded, write_file):
    changed = GOOD.replace("Kids' Fleece,kids", "Kids' Fleece Jacket,kids")
    report = catalog_import(write_file("changed.csv", changed))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    assert Product.objects.get(sku="C3").name == "Kids' Fleece Jacket"


def test_prune_removes_products_absent_from_the_file(loaded, write_file):
    smaller = HEADER + "A1,Women's Running Shoe,women,https://img.example.com/a1.png\n"
    kept = catalog_import(write_file("small.csv", smaller))
    assert kept.pruned == 0 and Product.objects.count() == 3
    pruned = catalog_import(write_file("small.csv", smaller), prune=True)
    assert pruned.pruned == 2
    assert list(Product.objects.values_list("sku", flat=True)) == ["A1"]


def test_import_copies_images_beside_the_csv_into_media(db, write_file, settings):
    write_file("shop/images/b2.png", picture_bytes())
    path = write_file("shop/catalog.csv", GOOD)
    first = catalog_import(path)
    assert first.images_copied == 1
    assert (settings.MEDIA_ROOT / "images" / "b2.png").read_bytes() == picture_bytes()
    assert catalog_import(path).images_copied == 0


def test_load_catalog_command_reports_counts(db, write_file):
    path = write_file("catalog.csv", GOOD)
    from io import StringIO

    out = StringIO()
    call_command("load_catalog", str(path), stdout=out)
    assert "created 3, updated 0, unchanged 0, pruned 0" in out.getvalue()


def test_load_catalog_command_fails_with_file_and_line(db, write_file):
    path = write_file("bad.csv", HEADER + "A1,Shoe,women,javascript:alert(1)\n")
    with pytest.raises(CommandError, match=r"bad\.csv, line 2: image 'javascript:alert\(1\)'"):
        call_command("load_catalog", str(path))
    assert Product.objects.count() == 0


def test_load_catalog_command_fails_on_missing_file(db, tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("load_catalog", str(tmp_path / "missing.csv"))


def media_files(settings):
    root = settings.MEDIA_ROOT
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_a_folder_named_as_an_image_beside_the_csv_refuses_the_load(loaded, write_file, settings):
    write_file("shop/images/a1.png", picture_bytes(color=(1, 2, 3)))
    (settings.MEDIA_ROOT.parent / "shop" / "images" / "folder.png").mkdir()
    content = HEADER + "A1,Shoe,women,images/a1.png\nZ9,Boot,men,images/folder.png\n"
    before = media_files(settings)
    with pytest.raises(CatalogImportError) as error:
        catalog_import(write_file("shop/catalog.csv", content))
    assert (error.value.line, error.value.problem) == (
        3,
        "image 'images/folder.png' beside the file is not a file (a folder?)",
    )
    assert catalog_snapshot() == loaded
    assert media_files(settings) == before  # a1.png, copied first, was taken back


def test_a_picture_that_cannot_take_its_place_in_media_refuses_the_load(
    loaded, write_file, settings
):
    write_file("shop/images/a1.png", picture_bytes(color=(1, 2, 3)))
    write_file("shop/images/b2.png", picture_bytes(color=(4, 5, 6)))
    (settings.MEDIA_ROOT / "images" / "b2.png").mkdir(parents=True)  # a folder in its place
    content = HEADER + "A1,Shoe,women,images/a1.png\nB2,Jacket,men,images/b2.png\n"
    before = media_files(settings)
    with pytest.raises(CatalogImportError, match="line 3: image 'images/b2.png' is a folder"):
        catalog_import(write_file("shop/catalog.csv", content))
    assert catalog_snapshot() == loaded
    assert media_files(settings) == before


def test_pictures_are_not_moved_into_media_when_the_write_fails(
    db, write_file, settings, monkeypatch
):
    from catalog import importing

    write_file("shop/images/a1.png", picture_bytes(color=(1, 2, 3)))

    def fail(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(importing, "rows_insert", fail)
    with pytest.raises(RuntimeError):
        catalog_import(write_file("shop/catalog.csv", HEADER + "A1,Shoe,women,images/a1.png\n"))
    assert media_files(settings) == []


def test_progress_is_advanced_by_every_byte_read(db, write_file):
    class Bar:  # the shape of a tqdm bar
        n = 0

        def update(self, n=1):
            self.n += n

    content = HEADER + "".join(f"S{i},Shoe {i},men,\n" for i in range(5000))
    bar = Bar()
    catalog_import(write_file("big.csv", content), progress=bar)
    assert bar.n == len(content.encode())
