"""Loading products from `catalog.csv` (header `sku,name,target,image`, optional extra columns).

The whole file is read and checked before anything is written, and the write is one
transaction: a bad file leaves the catalog exactly as it was.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from common.db import rows_insert
from common.progress import Progress

from .images import image_is_url, image_problem
from .models import Product
from .pictures import PictureProblem, picture_kind, picture_media_name, svg_rasterize
from .search import catalog_change_record

REQUIRED_COLUMNS = ("sku", "name", "target", "image")
FIELD_LIMITS = {"sku": 64, "name": 255, "target": 64, "image": 1024}
WRITE_BATCH = 2000


class CatalogImportError(Exception):
    """A problem in the file, with the line it was found on."""

    def __init__(self, path: Path, line: int, problem: str):
        super().__init__(f"{path}, line {line}: {problem}")
        self.path, self.line, self.problem = path, line, problem


@dataclass(frozen=True)
class CatalogRow:
    line: int
    sku: str
    name: str
    target: str
    image: str  # as the product keeps it: an SVG drawing's name with ".png" added
    extra: dict[str, str]
    picture: str = ""  # the file the catalog names, when it is not `image`

    def values(self) -> tuple:
        return (self.name, self.target, self.image, self.extra)


@dataclass
class CatalogImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    pruned: int = 0
    images_copied: int = 0
    changed_skus: list[str] = field(default_factory=list, repr=False)


def catalog_import(
    path: Path, *, prune: bool = False, progress: Progress | None = None
) -> CatalogImportReport:
    """Create, update (and with `prune`, delete) products so the catalog matches the file."""
    path = Path(path)
    rows = catalog_rows_read(path, progress=progress)
    report = CatalogImportReport(rows=len(rows))
    staged = _catalog_images_stage(path, rows)
    try:
        _catalog_write(rows, report, prune=prune)
    except BaseException:
        staged.discard()
        raise
    report.images_copied = staged.commit()
    return report


def _catalog_write(rows: list[CatalogRow], report: CatalogImportReport, *, prune: bool) -> None:
    now = timezone.now()
    with transaction.atomic():
        existing = {
            sku: (name, target, image, extra)
            for sku, name, target, image, extra in Product.objects.values_list(
                "sku", "name", "target", "image", "extra"
            )
        }
        to_create, to_update = [], []
        for row in rows:
            current = existing.get(row.sku)
            if current is None:
                to_create.append(_product_from_row(row))
            elif current != row.values():
                product = _product_from_row(row)
                product.updated_at = now
                to_update.append(product)
        created_at = connection.ops.adapt_datetimefield_value(now)
        rows_insert(
            Product,
            ["sku", "name", "target", "image", "extra", "created_at", "updated_at"],
            (
                (p.sku, p.name, p.target, p.image, json.dumps(p.extra), created_at, created_at)
                for p in to_create
            ),
        )
        Product.objects.bulk_update(
            to_update, ["name", "target", "image", "extra", "updated_at"], batch_size=WRITE_BATCH
        )
        report.created, report.updated = len(to_create), len(to_update)
        report.unchanged = len(rows) - len(to_create) - len(to_update)
        deleted: list[str] = []
        if prune:
            deleted = sorted(set(existing) - {row.sku for row in rows})
            for start in range(0, len(deleted), WRITE_BATCH):
                Product.objects.filter(sku__in=deleted[start : start + WRITE_BATCH]).delete()
            report.pruned = len(deleted)
        report.changed_skus = [p.sku for p in to_create + to_update]
        catalog_change_record(changed_skus=report.changed_skus, deleted_skus=deleted)


def catalog_rows_read(path: Path, *, progress: Progress | None = None) -> list[CatalogRow]:
    """Read and check every row; raise CatalogImportError at the first problem."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise CatalogImportError(path, 0, f"cannot open file: {exc.strerror}") from exc
    with handle:
        lines = _decoded_lines(path, handle, progress)
        reader = csv.reader(lines, strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise CatalogImportError(path, reader.line_num, f"malformed CSV: {exc}") from exc
        if header is None:
            raise CatalogImportError(path, 1, "the file is empty (expected a header row)")
        columns = _header_check(path, header)
        rows: list[CatalogRow] = []
        first_line_of_sku: dict[str, int] = {}
        row_start = reader.line_num + 1
        while True:
            try:
                fields = next(reader, None)
            except csv.Error as exc:
                raise CatalogImportError(path, row_start, f"malformed CSV: {exc}") from exc
            if fields is None:
                break
            line, row_start = row_start, reader.line_num + 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            row = _row_check(path, line, columns, fields)
            if row.sku in first_line_of_sku:
                raise CatalogImportError(
                    path,
                    line,
                    f"duplicate sku {row.sku!r} (first on line {first_line_of_sku[row.sku]})",
                )
            first_line_of_sku[row.sku] = line
            rows.append(row)
    return rows


def _decoded_lines(path: Path, handle: BinaryIO, progress: Progress | None) -> Iterator[str]:
    """The file's lines, split where an editor splits them (LF, CRLF, and the CR of old Mac
    exports), a UTF-8 BOM dropped; a line that is not UTF-8, or holds a NUL, stops the load."""
    # Undecodable bytes become lone surrogates here, so they are found line by line.
    text = io.TextIOWrapper(handle, encoding="utf-8", errors="surrogateescape", newline="")
    reported = 0
    for number, line in enumerate(text, start=1):
        if number == 1 and line.startswith("\ufeff"):
            line = line[1:]
        bad = NOT_TEXT.search(line)
        if bad is not None:
            byte = len(line[: bad.start()].encode("utf-8", "surrogateescape")) + 1
            problem = "not valid UTF-8" if bad.group() != "\x00" else "a NUL character"
            raise CatalogImportError(path, number, f"{problem} (byte {byte} of the line)")
        if progress is not None and number % 1024 == 0:
            position = handle.tell()
            progress.update(position - reported)
            reported = position
        yield line
    if progress is not None:
        progress.update(handle.tell() - reported)


# Undecodable bytes, and NUL, which the csv module reads but PostgreSQL cannot store.
NOT_TEXT = re.compile("[\x00\udc80-\udcff]")


def _header_check(path: Path, header: list[str]) -> list[str]:
    columns = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise CatalogImportError(
            path,
            1,
            f"missing required column(s) {', '.join(missing)}; "
            f"the header must include {','.join(REQUIRED_COLUMNS)} (found: {','.join(columns)})",
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise CatalogImportError(path, 1, f"repeated column(s) in header: {', '.join(repeated)}")
    if "" in columns:
        raise CatalogImportError(path, 1, "a header column has no name")
    return columns


def _row_check(path: Path, line: int, columns: list[str], fields: list[str]) -> CatalogRow:
    if len(fields) != len(columns):
        raise CatalogImportError(
            path, line, f"expected {len(columns)} fields like the header, found {len(fields)}"
        )
    values = {name: value.strip() for name, value in zip(columns, fields, strict=True)}
    for name, limit in FIELD_LIMITS.items():
        if len(values[name]) > limit:
            raise CatalogImportError(path, line, f"{name} is longer than {limit} characters")
    sku = values["sku"]
    if not sku:
        raise CatalogImportError(path, line, "empty sku")
    if SKU_FORBIDDEN.search(sku):
        raise CatalogImportError(
            path, line, f"sku {sku!r} contains whitespace, '/' or a control character"
        )
    if not values["name"]:
        raise CatalogImportError(path, line, f"empty name for sku {sku!r}")
    problem = image_problem(values["image"])
    if problem:
        raise CatalogImportError(path, line, problem)
    extra = {
        name: value for name, value in values.items() if name not in REQUIRED_COLUMNS and value
    }
    image = values["image"]
    stored = image if image_is_url(image) else picture_media_name(image)
    return CatalogRow(
        line, sku, values["name"], values["target"], stored, extra, image if stored != image else ""
    )


SKU_FORBIDDEN = re.compile(r"[\s/\x00-\x1f\x7f]")


def _product_from_row(row: CatalogRow) -> Product:
    return Product(sku=row.sku, name=row.name, target=row.target, image=row.image, extra=row.extra)


@dataclass
class _StagedImages:
    """Pictures copied beside their place in the media folder under temporary names, moved
    into place only once the products are written: a refused load leaves the folder as it was."""

    moves: list[tuple[str, str]] = field(default_factory=list)  # (temporary, final)
    folders: list[str] = field(default_factory=list)  # created for them, outermost first

    def commit(self) -> int:
        for temporary, final in self.moves:
            os.replace(temporary, final)
        return len(self.moves)

    def discard(self) -> None:
        for temporary, _ in self.moves:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        for folder in reversed(self.folders):
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def _catalog_images_stage(path: Path, rows: list[CatalogRow]) -> _StagedImages:
    """Check every relative picture the rows name, beside the CSV or else already in the media
    folder, and copy those beside the CSV (new or changed ones) to temporary names in the media
    folder, an SVG drawing drawn into a PNG; a picture that is not one, or cannot be copied,
    refuses the load at its line.

    This is what lets a folder with `catalog.csv` and `images/` be loaded as it is.
    """
    media_root = Path(settings.MEDIA_ROOT)
    staged = _StagedImages()
    try:
        for row in rows:
            if row.image and not image_is_url(row.image):
                _image_stage(path, row, media_root, staged)
    except BaseException:
        staged.discard()
        raise
    return staged


def _image_stage(path: Path, row: CatalogRow, media_root: Path, staged: _StagedImages) -> None:
    name = row.picture or row.image
    source, where = os.path.join(path.parent, name), "beside the file"
    try:
        source_stat = os.stat(source)
    except OSError:
        source, where = os.path.join(media_root, name), "in the media folder"
        try:
            source_stat = os.stat(source)
        except OSError:
            return  # nowhere yet: the shop shows the placeholder
    if not stat.S_ISREG(source_stat.st_mode):
        raise CatalogImportError(
            path, row.line, f"image {name!r} {where} is not a file (a folder?)"
        )
    try:
        kind = picture_kind(source)
    except PictureProblem as exc:
        raise CatalogImportError(path, row.line, f"image {name!r} {where} {exc}") from exc
    except OSError as exc:
        raise CatalogImportError(
            path, row.line, f"image {name!r} {where} cannot be read: {exc.strerror}"
        ) from exc
    destination = os.path.join(media_root, row.image)
    if os.path.abspath(source) == os.path.abspath(destination):
        return  # the picture is in its place
    try:
        destination_stat = os.stat(destination)
    except FileNotFoundError:
        destination_stat = None
    except OSError as exc:
        raise CatalogImportError(
            path, row.line, f"image {row.image!r} cannot go into the media folder: {exc.strerror}"
        ) from exc
    if destination_stat is not None:
        if not stat.S_ISREG(destination_stat.st_mode):
            raise CatalogImportError(
                path, row.line, f"image {row.image!r} is a folder in the media folder"
            )
        # A drawn SVG keeps its drawing's time, not its size.
        same_size = kind == "SVG" or destination_stat.st_size == source_stat.st_size
        if same_size and destination_stat.st_mtime_ns == source_stat.st_mtime_ns:
            return
    if any(final == destination for _, final in staged.moves):
        return  # two rows, one picture
    try:
        drawn = svg_rasterize(source) if kind == "SVG" else None
    except PictureProblem as exc:
        raise CatalogImportError(path, row.line, f"image {name!r} {where} {exc}") from exc
    try:
        folder = os.path.dirname(destination)
        missing = []
        while not os.path.isdir(folder):
            missing.append(folder)
            folder = os.path.dirname(folder)
        for folder in reversed(missing):
            os.mkdir(folder)
            staged.folders.append(folder)
        handle, temporary = tempfile.mkstemp(
            dir=os.path.dirname(destination), prefix=".", suffix=".partial"
        )
        os.close(handle)
        staged.moves.append((temporary, destination))
        if drawn is None:
            shutil.copyfile(source, temporary)
        else:
            Path(temporary).write_bytes(drawn)
        shutil.copystat(source, temporary)
    except OSError as exc:
        raise CatalogImportError(
            path, row.line, f"image {row.image!r} cannot be copied into the media folder: {exc}"
        ) from exc
