"""Loading products from `catalog.csv` (header `sku,name,target,image`, optional extra columns).

The whole file is read and checked before anything is written, and the write is one
transaction: a bad file leaves the catalog exactly as it was.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from common.db import rows_insert
from common.progress import Progress

from .models import Product
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
    image: str
    extra: dict[str, str]

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
    report.images_copied = _catalog_images_copy(path.parent, rows)
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
    return report


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
    pending = 0
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CatalogImportError(
                path, number, f"not valid UTF-8 (byte {exc.start + 1} of the line)"
            ) from exc
        if progress is not None:
            pending += len(raw)
            if pending >= 1 << 16:
                progress.update(pending)
                pending = 0
        yield text
    if progress is not None and pending:
        progress.update(pending)


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
    return CatalogRow(line, sku, values["name"], values["target"], values["image"], extra)


SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
HTTP_URL = re.compile(r"^https?://[^/?#\s]+", re.IGNORECASE)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SKU_FORBIDDEN = re.compile(r"[\s/\x00-\x1f\x7f]")


def image_problem(image: str) -> str | None:
    """Why `image` is not an http(s) URL or a safe relative media path, or None if it is."""
    if not image:
        return None
    if CONTROL.search(image):
        return f"image {image!r} contains a control character"
    if SCHEME.match(image):
        if HTTP_URL.match(image):
            return None
        return f"image {image!r} is neither an http(s) URL nor a relative path"
    if image.startswith(("/", "\\")) or "\\" in image:
        return f"image {image!r} must be a relative path under the media folder, not absolute"
    if ".." in image.split("/"):
        return f"image {image!r} must not leave the media folder ('..')"
    return None


def _product_from_row(row: CatalogRow) -> Product:
    return Product(sku=row.sku, name=row.name, target=row.target, image=row.image, extra=row.extra)


def _catalog_images_copy(catalog_dir: Path, rows: list[CatalogRow]) -> int:
    """Copy relative images that sit beside the CSV into the media folder (new or changed only).

    This is what lets a folder with `catalog.csv` and `images/` be loaded as it is.
    """
    media_root = Path(settings.MEDIA_ROOT)
    if catalog_dir.resolve() == media_root.resolve():
        return 0
    copied = 0
    for row in rows:
        if not row.image or SCHEME.match(row.image):
            continue
        source = os.path.join(catalog_dir, row.image)
        try:
            source_stat = os.stat(source)
        except OSError:
            continue  # not beside the CSV: expected to be in the media folder already
        destination = os.path.join(media_root, row.image)
        try:
            destination_stat = os.stat(destination)
            if (destination_stat.st_size, destination_stat.st_mtime_ns) == (
                source_stat.st_size,
                source_stat.st_mtime_ns,
            ):
                continue
        except OSError:
            os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copy2(source, destination)
        copied += 1
    return copied
