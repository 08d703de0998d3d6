"""catalog_import against generated hostile files: each one is loaded whole, or refused with
its file, line and problem and the catalog and the media folder exactly as they were."""

import csv
import hashlib
import io
import os
import shutil

import pytest
from django.db import transaction
from factories import picture_bytes
from hostile import HOSTILE_SETTINGS, LINE_ENDS, encoded, hostile_text
from hypothesis import event, given
from hypothesis import strategies as st

from catalog.images import image_problem
from catalog.importing import FIELD_LIMITS, CatalogImportError, catalog_import
from catalog.models import Product

BASELINE = (
    "sku,name,target,image,category\n"
    "A1,Women's Running Shoe,women,https://img.example.com/a1.png,running shoes\n"
    'B2,"Men\'s Rain Jacket, Olive",men,images/b2.png,jackets\n'
    "C3,Kids' Fleece,kids,,\n"
)
COLUMNS = ["sku", "name", "target", "image"]
ODD_COLUMNS = ["category", "price", "SKU", " Name ", "IMAGE", "", " ", "sku", "\ufeffsku",
               "=cmd|' /C calc'!A0", "na\u200bme", "image\x00", '"target"',
               "color,size"]  # fmt: skip
GOOD_VALUES = {
    "sku": st.one_of(
        st.sampled_from(["A1", "B2", "C3", "a1", "Z-9_x.1"]), st.integers(0, 999).map("P{}".format)
    ),
    "image": st.sampled_from(["", "", "images/b2.png", "images/new.png", "images/new.png",
                              "img/missing.png", "https://img.example.com/z.png",
                              "http://[::1]:8/a.png", "HTTPS://IMG.EXAMPLE.COM/Y.PNG",
                              "images/dir.png", "images"]),  # the last two: folders
}  # fmt: skip
GOOD_TEXT = st.sampled_from(["Trail Shoe", "Men's Rain Jacket, Olive", 'Say "hi"', "=1+2",
                             "Line\nbreak", "<b>bold</b>", "Ünïcödé 靴", "  padded  "])  # fmt: skip


def catalog_snapshot():
    return sorted(
        Product.objects.values_list("sku", "name", "target", "image", "extra", "updated_at")
    )


def folder_snapshot(root):
    """Every file and folder under `root`: its path, and its size and digest for a file."""
    found = {}
    for folder, folders, files in os.walk(root):
        for name in folders:
            found[os.path.relpath(os.path.join(folder, name), root)] = "folder"
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = hashlib.sha1(handle.read()).hexdigest()
    return found


@st.composite
def catalog_files(draw) -> bytes:
    """A catalog.csv: most are nearly right (what an import must load, or refuse for one small
    thing), the rest careless anywhere, a few not even text."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=300))
    careful = draw(st.integers(0, 9)) < 7
    columns = list(COLUMNS)
    if not careful or draw(st.integers(0, 9)) == 0:
        columns = [name for name in columns if draw(st.integers(0, 7))]
        columns += draw(st.lists(st.sampled_from(ODD_COLUMNS), max_size=2))
    elif draw(st.booleans()):
        columns += ["category"]
    if draw(st.booleans()):
        columns = draw(st.permutations(columns))

    def value(name: str, sku: str) -> str:
        if careful and draw(st.integers(0, 39)):
            return sku if name == "sku" else draw(GOOD_VALUES.get(name, GOOD_TEXT))
        return draw(hostile_text)

    rows = []
    for sku in draw(st.lists(GOOD_VALUES["sku"], min_size=int(careful), max_size=6, unique=True)):
        row = [value(name, sku) for name in columns]
        if draw(st.integers(0, 29)) == 0:  # a field too many or too few
            row = row[:-1] if row and draw(st.booleans()) else row + [draw(hostile_text)]
        rows.append(row)
    end = draw(LINE_ENDS)
    if careful or draw(st.booleans()):  # written by a CSV library: quoted properly
        out = io.StringIO()
        quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
        writer = csv.writer(out, lineterminator=end, quoting=quoting)
        writer.writerow(columns)
        writer.writerows(rows)
        text = out.getvalue()
    else:  # written by hand: fields joined with commas, whatever they hold
        text = end.join(",".join(row) for row in [columns, *rows])
        text += draw(st.sampled_from(["", end, end + end, end + " " + end]))
    return draw(encoded(text, damage=not careful or draw(st.integers(0, 9)) == 0))


@pytest.fixture
def shop_folder(db, tmp_path, settings, write_file):
    """The catalog after BASELINE was loaded (with its picture), and a folder for the files to
    load, holding a picture beside them, another one, and a folder named like a picture."""
    write_file("baseline/images/b2.png", picture_bytes(color=(1, 2, 3)))
    catalog_import(write_file("baseline/catalog.csv", BASELINE))
    folder = tmp_path / "incoming"
    (folder / "images" / "dir.png").mkdir(parents=True)
    (folder / "images" / "b2.png").write_bytes(picture_bytes(color=(4, 5, 6)))
    (folder / "images" / "new.png").write_bytes(picture_bytes(color=(7, 8, 9)))
    pristine = tmp_path / "media-baseline"
    shutil.copytree(settings.MEDIA_ROOT, pristine)
    return folder, pristine


@HOSTILE_SETTINGS
@given(content=catalog_files(), prune=st.booleans())
def test_hostile_catalog_loads_whole_or_changes_nothing(shop_folder, settings, content, prune):
    folder, pristine = shop_folder
    media = settings.MEDIA_ROOT
    path = folder / "catalog.csv"
    path.write_bytes(content)
    before, media_before = catalog_snapshot(), folder_snapshot(media)
    with transaction.atomic():  # a savepoint: what a case writes is undone after it
        try:
            report = catalog_import(path, prune=prune)
        except CatalogImportError as error:
            event("refused: " + error.problem.split(" ")[0])
            assert str(error) == f"{path}, line {error.line}: {error.problem}"
            assert 1 <= error.line <= content.count(b"\n") + content.count(b"\r") + 1
            assert catalog_snapshot() == before
            assert folder_snapshot(media) == media_before
        else:
            event(f"loaded: {report.rows} rows, {report.images_copied} pictures copied")
            loaded_whole(report, before, prune, folder, media)
        transaction.set_rollback(True)
    if folder_snapshot(media) != media_before:
        shutil.rmtree(media)
        shutil.copytree(pristine, media)


def loaded_whole(report, before, prune, folder, media):
    """What a load that was accepted must have done: every product valid, the counts adding
    up, the products not in the file kept unless pruned, the pictures beside it copied."""
    products = list(Product.objects.all())
    assert report.rows == report.created + report.updated + report.unchanged
    assert len(products) == (report.rows if prune else len(before) + report.created)
    assert report.pruned == (len(before) + report.created - report.rows if prune else 0)
    changed = set(report.changed_skus)
    for product in products:
        assert product.sku and product.name
        assert not any(c.isspace() or c == "/" or ord(c) < 32 for c in product.sku)
        assert image_problem(product.image) is None
        for name, limit in FIELD_LIMITS.items():
            assert len(getattr(product, name)) <= limit
        beside = folder / product.image
        if product.sku in changed and product.image and os.path.isfile(beside):
            assert (media / product.image).read_bytes() == beside.read_bytes()
