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

The index also stores each product's display fields (name, target, image and the optional
columns), so a results page needs no database query, and each thread keeps the answers to its
last CIS_SEARCH_CACHE_ENTRIES searches (the top `limit` SKUs with their scores, as Solr's
queryResultCache does): a shop's searches repeat ("shoes", "jacket"), and re-ranking for each
visitor then costs what the visitor adds, not another full-text query. The answers are dropped
whenever the index changes (SQLite's `PRAGMA data_version` tells, for writes from any process;
a rebuild is another file).

The index is written whole into a temporary file that replaces the live one atomically
(`os.replace`), so searches keep answering from the old file during a rebuild. A missing
index, or one written by an older version of this code (another `SCHEMA_VERSION`), is built
from the catalog on first use. Writers (rebuilds, updates) take a lock file so
an update made during a rebuild is applied to the new index, not lost with the old one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np
from django.conf import settings

from catalog.models import Product

from .base import SearchHit, SearchUnavailable, Vectors, items_batched, search_words

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 3  # the index's PRAGMA user_version; an index of another version is rebuilt
SCHEMA = f"""
PRAGMA user_version = {SCHEMA_VERSION};
CREATE TABLE product_rows (sku TEXT PRIMARY KEY);  -- its rowid is the product's row in products
CREATE VIRTUAL TABLE products USING fts5(
    sku UNINDEXED, name, target, category, image UNINDEXED, extra UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
"""
# bm25() weights, in column order: a word in the name counts five times one in the target.
BM25 = "bm25(products, 0.0, 10.0, 2.0, 4.0, 0.0)"
STORED_ENTRIES = 10_000  # products' display fields kept per thread (products_stored)
WRITE_BATCH = 1000
BUSY_TIMEOUT = 5.0
BUILD_WAIT = 30.0  # seconds a search waits for another process's first build


class EmbeddedSearch:
    name = "embedded"
    uses_session_vector = False  # the caller re-ranks

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
        reader = self._reader_current()
        key = (tuple(words), limit)
        try:
            reader.forget_if_changed()
            hits = reader.answer(key)
            if hits is None:
                quoted = ['"' + word.replace('"', '""') + '"' for word in words]
                rows = _matches(reader.connection, " AND ".join(quoted), limit)
                if not rows and len(quoted) > 1:
                    rows = _matches(reader.connection, " OR ".join(quoted), limit)
                hits = [_hit(sku, -rank, *fields) for sku, rank, *fields in rows]
                reader.remember(key, hits, entries=settings.CIS_SEARCH_CACHE_ENTRIES)
        except sqlite3.Error as exc:
            _reader_forget(self.path)
            raise SearchUnavailable(f"the search index {self.path} failed: {exc}") from exc
        return list(hits)  # the caller's own list: the kept one must not change

    def products_stored(self, skus: list[str]) -> list[SearchHit]:
        """The stored display fields of these products (score 0), without building an index
        that is missing or outdated: [] then, and for SKUs it does not hold. The thread keeps
        what it read while the index stays as it was: a visitor's "because" products come back
        on every search."""
        if not skus or not self.path.exists():
            return []
        reader = _reader(self.path)
        if reader.schema_version != SCHEMA_VERSION:
            return []
        try:
            reader.forget_if_changed()
            kept = reader.stored
            answer = {sku: kept[sku] for sku in skus if sku in kept}
            unknown = [sku for sku in skus if sku not in answer]
            if unknown:
                marks = ", ".join("?" * len(unknown))
                rows = reader.connection.execute(
                    "SELECT sku, name, target, image, extra FROM products WHERE rowid IN "
                    f"(SELECT rowid FROM product_rows WHERE sku IN ({marks}))",
                    unknown,
                )
                found = {sku: _hit(sku, 0.0, *fields) for sku, *fields in rows}
                reader.stored_keep({sku: found.get(sku) for sku in unknown})
                answer.update(found)
            return [hit for hit in answer.values() if hit is not None]
        except sqlite3.Error as exc:
            _reader_forget(self.path)
            raise SearchUnavailable(f"the search index {self.path} failed: {exc}") from exc

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
        update: the first search builds it from the catalog, changes included. An index of
        another schema is rebuilt from the catalog now (it would not take the new rows), so that
        it stays ready to answer when another configured engine cannot."""
        with self._writing():
            if not self.path.exists():
                return
            if _schema_version(self.path) != SCHEMA_VERSION:
                logger.info("The search index %s has another schema: rebuilding it", self.path)
                self._rebuild(Product.objects.order_by("sku").iterator(chunk_size=2000))
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

    def _reader_current(self) -> _Reader:
        """This thread's reader of an index of this code's schema, built first if need be."""
        if not self.path.exists():
            self._index_build("is missing")
        reader = _reader(self.path)
        if reader.schema_version != SCHEMA_VERSION:
            self._index_build(f"has schema version {reader.schema_version}, not {SCHEMA_VERSION}")
            reader = _reader(self.path)
        return reader

    def _index_build(self, why: str) -> None:
        with self._writing(wait=BUILD_WAIT):
            if _schema_version(self.path) == SCHEMA_VERSION:
                return  # another process built it while this one waited
            logger.info("The search index %s %s: building it from the catalog", self.path, why)
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
    return EmbeddedSearch(Path(settings.CIS_SEARCH_INDEX_PATH))


class _Reader:
    """A thread's read-only connection to one index file, kept open between searches (opening
    one costs half as much again as a search), and the answers it gave while the index stayed
    as it was (the least recently asked are dropped first)."""

    def __init__(self, identity: tuple[int, int], connection: sqlite3.Connection):
        self.identity = identity
        self.connection = connection
        (self.schema_version,) = connection.execute("PRAGMA user_version").fetchone()
        self.data_version = self._data_version()
        self.answers: OrderedDict[tuple, list[SearchHit]] = OrderedDict()
        self.stored: dict[str, SearchHit | None] = {}  # None: not in the index

    def _data_version(self) -> int:
        # Changes whenever another connection (of any process) commits to the file.
        return self.connection.execute("PRAGMA data_version").fetchone()[0]

    def forget_if_changed(self) -> None:
        """Drop what is kept when another connection has written to the index since; called
        before each read, so what is kept next is tagged with the version it was read under
        (a write during the read is then seen on the next call)."""
        data_version = self._data_version()
        if data_version != self.data_version:
            self.answers.clear()
            self.stored.clear()
            self.data_version = data_version

    def answer(self, key: tuple) -> list[SearchHit] | None:
        hits = self.answers.get(key)
        if hits is not None:
            self.answers.move_to_end(key)
        return hits

    def stored_keep(self, products: dict[str, SearchHit | None]) -> None:
        if len(self.stored) + len(products) > STORED_ENTRIES:
            self.stored.clear()
        self.stored.update(products)

    def remember(self, key: tuple, hits: list[SearchHit], *, entries: int) -> None:
        if entries <= 0:
            return
        self.answers[key] = hits
        while len(self.answers) > entries:
            self.answers.popitem(last=False)


def _reader(path: Path) -> _Reader:
    """This thread's reader of the index file at `path`, opened anew once a rebuild has
    replaced the file (another inode), which an open connection would not see."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise SearchUnavailable(f"cannot open the search index {path}: {exc}") from exc
    identity = (stat.st_dev, stat.st_ino)
    readers = _readers.__dict__.setdefault("by_path", {})
    kept = readers.get(path)
    if kept is not None and kept.identity == identity:
        return kept
    _reader_forget(path)
    try:
        connection = sqlite3.connect(
            f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT
        )
        reader = _Reader(identity, connection)
    except sqlite3.Error as exc:
        raise SearchUnavailable(f"cannot open the search index {path}: {exc}") from exc
    readers[path] = reader
    return reader


def _reader_forget(path: Path) -> None:
    kept = _readers.__dict__.get("by_path", {}).pop(path, None)
    if kept is not None:
        kept.connection.close()


_readers = threading.local()  # sqlite3 connections belong to the thread that opened them


def _schema_version(path: Path) -> int | None:
    """The schema version of the index at `path`; None when there is none or it is unreadable."""
    if not path.exists():
        return None
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            return db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error:
        return None


def _matches(connection: sqlite3.Connection, expression: str, limit: int) -> list[tuple]:
    return connection.execute(
        f"SELECT sku, {BM25} AS rank, name, target, image, extra FROM products "
        "WHERE products MATCH ? "
        "ORDER BY rank LIMIT ?",
        (expression, limit),
    ).fetchall()


def _hit(sku: str, score: float, name: str, target: str, image: str, extra: str) -> SearchHit:
    return SearchHit(sku, score, None, name, target, image, extra)


def _rows_insert(connection: sqlite3.Connection, products: Iterable[Product]) -> None:
    for product in products:
        rowid = connection.execute(
            "INSERT INTO product_rows (sku) VALUES (?)", (product.sku,)
        ).lastrowid
        connection.execute(
            "INSERT INTO products (rowid, sku, name, target, category, image, extra) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                rowid,
                product.sku,
                product.name,
                product.target,
                product.category,
                product.image,
                json.dumps(product.extra),
            ),
        )


def _row_delete(connection: sqlite3.Connection, sku: str) -> None:
    row = connection.execute("SELECT rowid FROM product_rows WHERE sku = ?", (sku,)).fetchone()
    if row is not None:
        connection.execute("DELETE FROM products WHERE rowid = ?", row)
        connection.execute("DELETE FROM product_rows WHERE rowid = ?", row)
