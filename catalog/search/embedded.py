"""The built-in search engine: SQLite FTS5 in a file of its own (CIS_SEARCH_INDEX_PATH).

Why FTS5 rather than tantivy: FTS5 ships inside Python's sqlite3, so the default install needs
no extra dependency, wheel or server, and the index is one file that works the same whether
the shop's database is SQLite or PostgreSQL. It ranks with BM25 (with per-column weights, so
the name counts most) and stems English with the Porter tokenizer ("shoes" finds "Running
Shoe"); diacritics are folded ("cafe" finds "Café"). tantivy would be faster on millions of
documents and offers fuzzy matching, but a shop has thousands of products, not millions.
Measured on a 50,000-product index (3-word names from a 400-word vocabulary, 8 categories;
2-vCPU AMD EPYC, each search opening the file, which it no longer does): a two-word search takes
0.7 ms (median; 1.2 ms at the 95th percentile); the broadest, "running shoes" or "women",
which match 6,300 and 8,700 products that BM25 must all score, in 17-21 ms. A rebuild: 0.8 s.

The index is written whole into a temporary file that replaces the live one atomically
(`os.replace`), so searches keep answering from the old file during a rebuild. A missing
index is built from the catalog on first use. Writers (rebuilds, updates) take a lock file so
an update made during a rebuild is applied to the new index, not lost with the old one.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np
from django.conf import settings

from catalog.models import Product

from . import SearchHit, SearchUnavailable, Vectors, items_batched, search_words

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE product_rows (sku TEXT PRIMARY KEY);  -- its rowid is the product's row in products
CREATE VIRTUAL TABLE products USING fts5(
    sku UNINDEXED, name, target, category,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
"""
# bm25() weights, in column order: a word in the name counts five times one in the target.
BM25 = "bm25(products, 0.0, 10.0, 2.0, 4.0)"
WRITE_BATCH = 1000
BUSY_TIMEOUT = 5.0
BUILD_WAIT = 30.0  # seconds a search waits for another process's first build


class EmbeddedSearch:
    name = "embedded"

    def __init__(self, path: Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"EmbeddedSearch({str(self.path)!r})"

    def search(
        self, query: str, *, limit: int = 50, session_vector: np.ndarray | None = None
    ) -> list[SearchHit]:
        """Products with every word of `query` (stemmed), best BM25 first; when no product has
        them all, products with any of them. Each word is quoted as an FTS5 string, so no
        user text is ever FTS5 syntax. `session_vector` is not used: the caller re-ranks."""
        words = search_words(query)
        if not words or limit <= 0:
            return []
        if not self.path.exists():
            self._index_build_missing()
        quoted = ['"' + word.replace('"', '""') + '"' for word in words]
        connection = _reader(self.path)
        try:
            rows = _matches(connection, " AND ".join(quoted), limit)
            if not rows and len(quoted) > 1:
                rows = _matches(connection, " OR ".join(quoted), limit)
        except sqlite3.Error as exc:
            _reader_forget(self.path)
            raise SearchUnavailable(f"the search index {self.path} failed: {exc}") from exc
        return [SearchHit(sku, -rank) for sku, rank in rows]

    def index_rebuild(self, products: Iterable[Product], *, vectors: Vectors | None = None) -> int:
        with self._writing():
            return self._rebuild(products)

    def index_update(
        self,
        products: Iterable[Product],
        *,
        deleted_skus: Iterable[str] = (),
        vectors: Vectors | None = None,
    ) -> None:
        """Upsert `products` and delete `deleted_skus`. Without an index there is nothing to
        update: the first search builds it from the catalog, changes included."""
        with self._writing():
            if not self.path.exists():
                return
            try:
                with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT)) as connection:
                    with connection:  # one transaction
                        for sku in deleted_skus:
                            _row_delete(connection, sku)
                        for product in products:
                            _row_delete(connection, product.sku)
                            _rows_insert(connection, [product])
            except sqlite3.Error as exc:
                raise SearchUnavailable(f"cannot update the search index: {exc}") from exc

    def _index_build_missing(self) -> None:
        with self._writing(wait=BUILD_WAIT):
            if self.path.exists():
                return  # another process built it while this one waited
            logger.info("The search index %s is missing: building it from the catalog", self.path)
            count = self._rebuild(Product.objects.order_by("sku").iterator(chunk_size=2000))
            logger.info("The search index %s holds %s products", self.path, count)

    def _rebuild(self, products: Iterable[Product]) -> int:
        building = self.path.with_name(self.path.name + ".building")
        building.unlink(missing_ok=True)
        count = 0
        try:
            connection = sqlite3.connect(building)
            try:
                # A crash leaves only this temporary file, so it needs no journal.
                connection.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
                connection.executescript(SCHEMA)
                for batch in items_batched(products, WRITE_BATCH):
                    _rows_insert(connection, batch)
                    count += len(batch)
                connection.execute("INSERT INTO products(products) VALUES ('optimize')")
                connection.commit()
            finally:
                connection.close()
            os.replace(building, self.path)
        except sqlite3.Error as exc:
            raise SearchUnavailable(f"cannot build the search index {self.path}: {exc}") from exc
        finally:
            building.unlink(missing_ok=True)
        return count

    @contextmanager
    def _writing(self, *, wait: float | None = None) -> Iterator[None]:
        """One writer at a time, across processes (searches of an existing index never wait).
        With `wait`, give up after that many seconds rather than block a page."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path.with_name(self.path.name + ".lock"), "a")  # noqa: SIM115
        except OSError as exc:
            raise SearchUnavailable(f"cannot write the search index {self.path}: {exc}") from exc
        with handle:
            if wait is None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            else:
                deadline = time.monotonic() + wait
                while True:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise SearchUnavailable(
                                f"the search index {self.path} is being built; try again soon"
                            ) from None
                        time.sleep(0.05)
            yield


def backend_from_settings() -> EmbeddedSearch:
    path = getattr(settings, "CIS_SEARCH_INDEX_PATH", None)
    return EmbeddedSearch(Path(path) if path else Path(settings.DATA_DIR) / "search.sqlite3")


def _reader(path: Path) -> sqlite3.Connection:
    """This thread's read-only connection to the index file at `path`, kept open between
    searches (opening one costs half as much again as a search), and opened anew once a
    rebuild has replaced the file (another inode), which an open connection would not see."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise SearchUnavailable(f"cannot open the search index {path}: {exc}") from exc
    identity = (stat.st_dev, stat.st_ino)
    readers = _readers.__dict__.setdefault("by_path", {})
    kept = readers.get(path)
    if kept is not None and kept[0] == identity:
        return kept[1]
    _reader_forget(path)
    try:
        connection = sqlite3.connect(
            f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT
        )
    except sqlite3.Error as exc:
        raise SearchUnavailable(f"cannot open the search index {path}: {exc}") from exc
    readers[path] = (identity, connection)
    return connection


def _reader_forget(path: Path) -> None:
    kept = _readers.__dict__.get("by_path", {}).pop(path, None)
    if kept is not None:
        kept[1].close()


_readers = threading.local()  # sqlite3 connections belong to the thread that opened them


def _matches(connection: sqlite3.Connection, expression: str, limit: int) -> list[tuple]:
    return connection.execute(
        f"SELECT sku, {BM25} AS rank FROM products WHERE products MATCH ? ORDER BY rank LIMIT ?",
        (expression, limit),
    ).fetchall()


def _rows_insert(connection: sqlite3.Connection, products: Iterable[Product]) -> None:
    for product in products:
        rowid = connection.execute(
            "INSERT INTO product_rows (sku) VALUES (?)", (product.sku,)
        ).lastrowid
        connection.execute(
            "INSERT INTO products (rowid, sku, name, target, category) VALUES (?, ?, ?, ?, ?)",
            (rowid, product.sku, product.name, product.target, product.category),
        )


def _row_delete(connection: sqlite3.Connection, sku: str) -> None:
    row = connection.execute("SELECT rowid FROM product_rows WHERE sku = ?", (sku,)).fetchone()
    if row is not None:
        connection.execute("DELETE FROM products WHERE rowid = ?", row)
        connection.execute("DELETE FROM product_rows WHERE rowid = ?", row)
