"""The catalog's version: a counter that every catalog write bumps inside its own transaction,
so that what reads the catalog elsewhere (a search index, a map of products) can record the
version it was made from, and be found behind it.

The version commits or rolls back with the write itself: nothing can crash between the two.
What comes after the commit (an index refresh) can be lost, and is then detected by comparing
versions (catalog/search: `search_index_check`). Writes take the row's lock, so versions are
given out in the order the writes commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from .models import CatalogVersion

ROW = 1  # the one row


@dataclass(frozen=True)
class CatalogState:
    token: str  # which catalog (a database created or restored anew gets another)
    version: int  # how many changes it has had
    changed_at: datetime | None  # when the last one committed (None: never)

    @property
    def label(self) -> str:
        """Short, for logs and ETags."""
        return f"{self.token[:8]}.{self.version}"


def catalog_state() -> CatalogState:
    """The catalog's current version (one primary-key read; the row is made on first use)."""
    row = CatalogVersion.objects.filter(pk=ROW).values_list("token", "version", "changed_at")
    found = row.first()
    if found is None:
        created = _row_get_or_create(lock=False)
        found = (created.token, created.version, created.changed_at)
    return CatalogState(*found)


def catalog_label() -> str:
    """`catalog_state().label`, for what reads it on every request (a product page): the same
    primary-key read in plain SQL, without the ORM's query building (0.4 ms of a 1.5 ms page)."""
    meta = CatalogVersion._meta
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote('token')}, {quote('version')} FROM {quote(meta.db_table)} "
            f"WHERE {quote(meta.pk.column)} = %s",
            [ROW],
        )
        found = cursor.fetchone()
    if found is None:
        return catalog_state().label  # makes the row
    return CatalogState(found[0], found[1], None).label


def catalog_version_bump() -> CatalogState:
    """Count one more change to the catalog; call it inside the write's transaction, after the
    write (its lock is then held only until the commit)."""
    if not connection.in_atomic_block:
        raise RuntimeError("catalog_version_bump must run inside the write's transaction")
    row = _row_get_or_create(lock=True)
    row.version += 1
    row.changed_at = timezone.now()
    row.save(update_fields=["version", "changed_at"])
    return CatalogState(row.token, row.version, row.changed_at)


def _row_get_or_create(*, lock: bool) -> CatalogVersion:
    rows = CatalogVersion.objects.select_for_update() if lock else CatalogVersion.objects
    # (get_or_create takes the row another process made at the same moment)
    row, _ = rows.get_or_create(pk=ROW, defaults={"token": uuid.uuid4().hex})
    return row
