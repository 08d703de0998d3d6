"""The built-in search engine: tantivy (the Rust engine, through its Python binding) in a folder
of its own (CIS_SEARCH_INDEX_PATH).

Why tantivy: it ranks with BM25 and collects only the top k (block-max WAND) instead of scoring
every match, so a broad word over 50,000 products costs well under a millisecond where SQLite
FTS5, this engine before, took 20-120 ms (`benchmarks/search_engines.py`). No cache is needed
in front of it. It ships as a wheel, needs no server, and its index is a folder that works the
same whether the shop's database is SQLite or PostgreSQL.

Text: name, category and target are searched with boosts (a word in the name counts most) by an
English analyzer: lowercased, accents folded, Porter-stemmed ("shoes" finds "Running Shoe"),
and possessives dropped before tokenizing, so "Men's", "Women's" and "Kids'" are one token each
and no audience's names are shorter, and so better scored, than another's. The user's words
are turned into term queries, never parsed as query syntax.

Shoppers' words: a phrase of the synonyms file (CIS_SYNONYMS_FILE) is searched as any of its
alternatives ("tshirt" finds the tees); a word the catalog or that file knows is searched as it
is, never as a near word ("shirt" is not "skirt"); any other word of four letters or more is
read as the catalog's word one edit away (two from eight letters; a swap of two letters is one
edit), the most frequent of the nearest: "sheos" is searched as "shoes", "backpak" as
"backpack", which finds the backpacks category too. The hits then say what was searched
(`ReadHits.understood`). A query in double quotes is searched as typed.

The index also stores each product's display fields (name, target, image, optional columns),
so a results list needs no database query. It is written whole into a new folder that a
symlink swap makes live (`os.replace`), so searches keep answering from the old one during a
rebuild; catalog loads and admin edits update it in place (one commit, which every process
sees at its next search). A missing index, or one written for another `SCHEMA_VERSION`, is
built from the catalog on first use. Writers take a lock file, so an update made during a
rebuild is applied to the new index, not lost with the old one.

Each index folder records the catalog state it holds (STATE_FILE, see `IndexState`), written
after the commit it describes, so that an update lost to a crash shows as an index behind the
catalog (`search_index_check`) instead of going unnoticed.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import math
import os
import shutil
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import tantivy
from django.conf import settings

from catalog.changes import CatalogState, catalog_state
from catalog.models import Product

from .base import (
    FACETS,
    PRICE_LOW,
    RELEVANCE,
    UNRECORDED,
    Filters,
    IndexState,
    KeptHits,
    ReadHits,
    SearchFacets,
    SearchHit,
    SearchUnavailable,
    Vectors,
    display_json,
    facet_values,
    items_batched,
    possessives_drop,
    product_price,
    search_exact,
    search_words,
)
from .synonyms import Phrase, Synonyms, synonyms_configured

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 9  # written in the index folder; an index of another version is rebuilt
VERSION_FILE = "cis-schema-version"
STATE_FILE = "cis-catalog-state"  # the IndexState the folder holds, as JSON
# Each product's code (a fast field) is its line in this file, the SKU as JSON: a search reads
# 200 codes in microseconds where reading 200 stored documents costs a third of a millisecond,
# and the display fields are read for the results shown only. Lines are only ever appended.
SKUS_FILE = "skus"
DISPLAYED_WITH_HITS = 50  # up to this many hits, a search reads their display fields too
DISPLAYS_KEPT = 20_000  # display fields a process keeps per index generation (a few MB)
ANALYZER = "cis_english"  # stemmed: what is ranked
WORDS_ANALYZER = "cis_words"  # not stemmed: what a misspelt word is compared with
BOOSTS = {"name": 3.0, "category": 2.0, "target": 1.0}
FUZZY_MIN_LETTERS = 4  # shorter words are never corrected
FUZZY_MAX_LETTERS = 24  # nor longer ones: no catalog word is, and their forms are many
# Two edits only from 8 letters: at 6, "shorts" is two edits from "shoes".
FUZZY_TWO_EDITS_LETTERS = 8
BUILD_HEAP, UPDATE_HEAP = 200_000_000, 20_000_000  # tantivy writer memory, bytes
WRITE_BATCH = 2000
# The plain order mixes categories among matches of (nearly) equal relevance: in a shop of
# templated names, thousands tie ("shoes" gives 275 at one score on the sample shop), and the
# index's own order would show one category a page. Within TIE_SHARE of a run's first score,
# results take turns by category, among the first DIVERSITY_POOL matches.
TIE_SHARE = 0.06
DIVERSITY_POOL = 200
FACET_VALUES_MAX = 100  # values counted per facet
BUILD_WAIT = 30.0  # seconds a search waits for another process's first build


@cache
def schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("sku", stored=True, tokenizer_name="raw")
    for field in BOOSTS:
        builder.add_text_field(field, tokenizer_name=ANALYZER)
    builder.add_text_field("words", tokenizer_name=WORDS_ANALYZER, index_option="basic")
    # The display fields as loaded, in one JSON text: the fewer stored fields, the cheaper a
    # hit is to read (200 per search).
    builder.add_text_field("display", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("group", fast=True)  # the category's code, for mixing categories
    builder.add_integer_field("code", fast=True)  # the product's line in SKUS_FILE
    for field in FACETS:  # as loaded: what filters match and facets count
        builder.add_text_field(f"{field}_value", fast=True, tokenizer_name="raw")
    # Prices to sort by, up and down: products without one last either way.
    builder.add_float_field("price_up", fast=True)
    builder.add_float_field("price_down", fast=True)
    return builder.build()


@cache
def analyzers() -> dict[str, tantivy.TextAnalyzer]:
    def folded() -> tantivy.TextAnalyzerBuilder:
        return (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.ascii_fold())
        )

    return {
        ANALYZER: folded().filter(tantivy.Filter.stemmer("english")).build(),
        WORDS_ANALYZER: folded().build(),
    }


def tokens(text: str) -> list[str]:
    """The tokens the index holds for `text` in its ranked fields (name, category, target)."""
    return analyzers()[ANALYZER].analyze(possessives_drop(text))


class EmbeddedSearch:
    name = "embedded"
    uses_session_vector = False  # the caller re-ranks
    navigates = True  # filters, sorts, pages and counts facets itself
    stores_vectors = False

    def __init__(self, path: Path):
        self.path = Path(path)
        # The last search's hits read by code: where their documents are, so the display fields
        # of those shown are read without searching again (an engine object serves one request).
        self._found: tuple[_Reader, tuple, dict[str, object]] | None = None

    def __repr__(self) -> str:
        return f"EmbeddedSearch({str(self.path)!r})"

    def search(
        self,
        query: str,
        *,
        limit: int = 50,
        session_vector: np.ndarray | None = None,
        filters: Filters | None = None,
        offset: int = 0,
        sort: str = RELEVANCE,
    ) -> list[SearchHit]:
        """Products with every word of `query` as the engine reads it (stemmed, a synonym's
        alternatives, a misspelt word corrected: see the module), best BM25 first; when no
        product has them all, products with any of them. With `filters`, only products with
        those values (target, category); `offset` skips the first matches; `sort` by price
        instead of relevance. The hits say what was searched when it is not what was typed.
        `session_vector` is not used: the caller re-ranks."""
        words = search_words(query)
        if not words or limit <= 0:
            return []
        exact = search_exact(query)
        synonyms = synonyms_configured()
        try:
            reader = self._reader_current()
            searcher = reader.index.searcher()
            if sort == RELEVANCE:
                key = (tuple(words), exact, synonyms.rules, tuple(sorted((filters or {}).items())),
                       offset, limit)  # fmt: skip
                generation = reader.generation  # what the answer is read under
                answer = reader.answer(key, generation)
                if answer is None:
                    reading = _reading(reader, searcher, words, exact=exact, synonyms=synonyms)
                    answer = (*self._ranked(reader, searcher, reading, filters, offset, limit),
                              reading.understood)  # fmt: skip
                    reader.remember(
                        key, answer, generation, entries=settings.CIS_SEARCH_CACHE_ENTRIES
                    )
                hits, addresses, understood = answer
                if addresses is not None:  # read by code: keep where they are
                    self._found = (reader, generation, addresses)
                return KeptHits(hits, (str(reader.folder), generation, key), understood=understood)
            reading = _reading(reader, searcher, words, exact=exact, synonyms=synonyms)
            low = sort == PRICE_LOW
            found = searcher.search(
                self._matching(searcher, reading, filters), limit, count=False, offset=offset,
                order_by_field="price_up" if low else "price_down",
                order=tantivy.Order.Asc if low else tantivy.Order.Desc,
            ).hits  # fmt: skip
            hits = reader.hits(searcher, [(0.0, address) for _, address in found])
            return ReadHits(hits, understood=reading.understood)
        except (ValueError, OSError) as exc:
            _reader_forget(self.path)
            raise SearchUnavailable(f"the search index {self.path} failed: {exc}") from exc

    def _ranked(
        self,
        reader: _Reader,
        searcher: tantivy.Searcher,
        reading: _Reading,
        filters: Filters | None,
        offset: int,
        limit: int,
    ) -> tuple[list[SearchHit], dict | None]:
        """The hits from `offset` in relevance order, and where their documents are (SKU ->
        address) when they were read by code (None when they came with their display fields)."""
        pool = max(offset + limit, DIVERSITY_POOL)
        matching = self._matching(searcher, reading, filters)
        found = searcher.search(matching, pool, count=False).hits
        chosen = _mixed(searcher, found)[offset : offset + limit]
        hits = reader.hits(searcher, chosen)
        by_code = bool(hits) and hits[0].display is None
        if not by_code:
            return hits, None
        skus = (hit.sku for hit in hits)
        return hits, dict(zip(skus, (address for _, address in chosen), strict=True))

    def facets(self, query: str, *, filters: Filters | None = None) -> SearchFacets:
        """How many products match `query` (and `filters`), and how many of them each target
        and category has, most first. Kept with the search answers (a search page counts its
        facets at every request: an aggregation, 6% of the page)."""
        words = search_words(query)
        if not words:
            return SearchFacets.none()
        exact, synonyms = search_exact(query), synonyms_configured()
        try:
            reader = self._reader_current()
            key = ("facets", tuple(words), exact, synonyms.rules,
                   tuple(sorted((filters or {}).items())))  # fmt: skip
            generation = reader.generation
            facets = reader.answer(key, generation)
            if facets is None:
                facets = self._counted(
                    reader, words, exact=exact, synonyms=synonyms, filters=filters
                )
                reader.remember(key, facets, generation, entries=settings.CIS_SEARCH_CACHE_ENTRIES)
            return facets
        except (ValueError, OSError) as exc:
            _reader_forget(self.path)
            raise SearchUnavailable(f"the search index {self.path} failed: {exc}") from exc

    def _counted(self, reader: _Reader, words, *, exact, synonyms, filters) -> SearchFacets:
        searcher = reader.index.searcher()
        reading = _reading(reader, searcher, words, exact=exact, synonyms=synonyms)
        matching = self._matching(searcher, reading, filters)
        total = searcher.search(matching, 1, count=True).count
        spec = {
            field: {"terms": {"field": f"{field}_value", "size": FACET_VALUES_MAX}}
            for field in FACETS
        }
        counted = searcher.aggregate(matching, spec)
        values = {
            field: facet_values((b["key"], b["doc_count"]) for b in counted[field]["buckets"])
            for field in FACETS
        }
        return SearchFacets(total, values)

    def _matching(
        self, searcher: tantivy.Searcher, reading: _Reading, filters: Filters | None
    ) -> tantivy.Query:
        """The query that answers `reading`, the same for results, counts and facets: every
        word (or phrase) as read; when no product has them all, any of them."""
        every = _filtered(_units_query(reading.units, every=True), filters)
        if len(reading.units) == 1 or searcher.search(every, 1, count=False).hits:
            return every
        return _filtered(_units_query(reading.units, every=False), filters)

    def products_stored(self, skus: list[str]) -> list[SearchHit]:
        """The stored display fields of these products (score 0), without building an index
        that is missing or outdated: [] then, and for SKUs it does not hold."""
        if not skus:
            return []
        # A search of this request checked the index a moment ago: its reader will do.
        reader = self._found[0] if self._found is not None else None
        if reader is None:
            if not self._current():
                return []
            reader = _readers.get(self.path)
        found: dict[str, SearchHit] = {}
        wanted = list(dict.fromkeys(skus))
        if reader is not None:
            generation, displays = reader.generation, reader.displays
            for sku in wanted:
                hit = displays.get(sku)
                if hit is not None:
                    found[sku] = hit
            wanted = [sku for sku in wanted if sku not in found]
            if not wanted:
                return [found[sku] for sku in dict.fromkeys(skus) if sku in found]
        read = wanted
        try:
            if self._found is not None:
                reader, generation, addresses = self._found
                if generation == _generation(reader) == reader.generation:  # nothing changed
                    known = [(0.0, addresses[sku]) for sku in wanted if sku in addresses]
                    searcher = reader.index.searcher()
                    found |= {hit.sku: hit for hit in _documents(searcher, known, scored=False)}
                    wanted = [sku for sku in wanted if sku not in found]
            if wanted:
                searcher = _reader(self.path).index.searcher()
                query = tantivy.Query.term_set_query(schema(), "sku", wanted)
                stored = searcher.search(query, len(wanted), count=False).hits
                found |= {hit.sku: hit for hit in _documents(searcher, stored, scored=False)}
            if reader is not None:
                reader.displays_remember([found[sku] for sku in read if sku in found], generation)
        except (ValueError, OSError) as exc:
            _reader_forget(self.path)
            raise SearchUnavailable(f"the search index {self.path} failed: {exc}") from exc
        return [found[sku] for sku in dict.fromkeys(skus) if sku in found]

    def index_rebuild(
        self,
        products: Iterable[Product],
        *,
        vectors: Vectors | None = None,
        state: IndexState | None = None,
    ) -> int:
        with self._writing():
            return self._rebuild(products, state=state)

    def index_update(
        self,
        products: Iterable[Product],
        *,
        deleted_skus: Iterable[str] = (),
        vectors: Vectors | None = None,
        change: CatalogState | None = None,
    ) -> None:
        """Upsert `products` and delete `deleted_skus`, then record `change` as held. Without
        an index there is nothing to update: the first search builds it from the catalog,
        changes included. An index of another schema is rebuilt from the catalog now (it would
        not take the new rows), so that it stays ready to answer when another configured engine
        cannot."""
        with self._writing():
            if not self.path.exists():
                return
            if _schema_version(self.path) != SCHEMA_VERSION:
                logger.info("The search index %s has another schema: rebuilding it", self.path)
                self._rebuild_from_catalog()
                return
            try:
                reader = _reader(self.path)
                writer = reader.index.writer(heap_size=UPDATE_HEAP, num_threads=1)
                for sku in deleted_skus:
                    writer.delete_documents_by_term("sku", sku)
                codes = reader.table.codes()
                lines = len(reader.table.skus)
                with (reader.folder / SKUS_FILE).open("a", encoding="utf-8") as appended:
                    for product in products:
                        code = codes.get(product.sku)
                        if code is None:  # a new product: the next line
                            code = codes[product.sku] = lines
                            lines += 1
                            appended.write(json.dumps(product.sku) + "\n")
                        writer.delete_documents_by_term("sku", product.sku)
                        writer.add_document(_document(product, code=code))
                # The new lines are written before the commit that makes their codes visible.
                writer.commit()
                writer.wait_merging_threads()
                if change is not None:  # after the commit: a crash before leaves it behind
                    held = _state_read(reader.folder)
                    if (now := held.applied(change)) != held:
                        _state_write(reader.folder, now)
            except (ValueError, OSError) as exc:
                raise SearchUnavailable(f"cannot update the search index: {exc}") from exc

    def index_state(self) -> IndexState | None:
        """The state the live folder records; UNRECORDED for an index of another schema (the
        first search rebuilds it); None when there is no index."""
        folder = _live_folder(self.path)
        if folder is None:
            return None
        if _schema_version(self.path) != SCHEMA_VERSION:
            return UNRECORDED
        return _state_read(folder)

    def _current(self) -> bool:
        """Whether an index of this code's schema is live (without building one)."""
        kept = _readers.get(self.path)
        if kept is not None and kept.folder == _live_folder(self.path):
            return True
        return _schema_version(self.path) == SCHEMA_VERSION

    def _reader_current(self) -> _Reader:
        """This process's reader of an index of this code's schema, built first if need be."""
        kept = _readers.get(self.path)
        if kept is not None and kept.link_target == _link_target(self.path):
            # Its schema was checked when it was opened: bring it up to the last commit.
            try:
                kept.refresh()
            except (ValueError, OSError) as exc:
                _reader_forget(self.path)
                raise SearchUnavailable(f"cannot read the search index {self.path}: {exc}") from exc
            return kept
        version = _schema_version(self.path)
        if version != SCHEMA_VERSION:
            exists = self.path.exists() or self.path.is_symlink()
            self._index_build(f"has schema version {version}" if exists else "is missing")
        return _reader(self.path)

    def _index_build(self, why: str) -> None:
        with self._writing(wait=BUILD_WAIT):
            if _schema_version(self.path) == SCHEMA_VERSION:
                return  # another process built it while this one waited
            logger.info("The search index %s %s: building it from the catalog", self.path, why)
            count = self._rebuild_from_catalog()
            logger.info("The search index %s holds %s products", self.path, count)

    def _rebuild_from_catalog(self) -> int:
        state = IndexState.built(catalog_state())  # read before the products: see `built`
        return self._rebuild(Product.objects.order_by("sku").iterator(chunk_size=2000), state=state)

    def _rebuild(self, products: Iterable[Product], *, state: IndexState | None) -> int:
        """Write `products` into a new folder, then swap the link to it (the old folder goes);
        the folder records `state`."""
        folder = self.path.with_name(f"{self.path.name}.{time.time_ns()}")
        link = self.path.with_name(self.path.name + ".swapping")
        count, writer = 0, None
        try:
            folder.mkdir(parents=True)
            index = _index_open(folder, create=True)
            # One indexing thread: documents keep the order they come in (threads would spread
            # them over segments by chance), so equally relevant products keep one order.
            writer = index.writer(heap_size=BUILD_HEAP, num_threads=1)
            with (folder / SKUS_FILE).open("w", encoding="utf-8") as skus:
                for batch in items_batched(products, WRITE_BATCH):
                    for code, product in enumerate(batch, start=count):
                        writer.add_document(_document(product, code=code))
                        skus.write(json.dumps(product.sku) + "\n")
                    count += len(batch)
            writer.commit()
            writer.wait_merging_threads()
            (folder / VERSION_FILE).write_text(str(SCHEMA_VERSION))
            if state is not None:
                _state_write(folder, state)
            old = _live_folder(self.path)
            link.unlink(missing_ok=True)
            os.symlink(folder.name, link)
            if self.path.exists() and not self.path.is_symlink():
                _remove(self.path)  # an index of an older kind (a file or a plain folder)
            os.replace(link, self.path)
        except (ValueError, OSError) as exc:
            _build_abandon(writer, folder)
            link.unlink(missing_ok=True)
            raise SearchUnavailable(f"cannot build the search index {self.path}: {exc}") from exc
        except BaseException:
            _build_abandon(writer, folder)
            raise
        if old is not None and old != folder:
            # Readers that hold it open keep their files until they move to the new one.
            shutil.rmtree(old, ignore_errors=True)
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


@dataclass(frozen=True)
class _Reading:
    """A query as the engine searches it: units a product must match (every one, else any),
    each matched by any of its alternatives, each a phrase whose words must all match; and
    what that reads as when it is not the words typed."""

    units: tuple[tuple[Phrase, ...], ...]
    understood: str | None = None


def _reading(
    reader: _Reader,
    searcher: tantivy.Searcher,
    words: list[str],
    *,
    exact: bool,
    synonyms: Synonyms,
) -> _Reading:
    """`words` as searched (see the module): `exact` reads them as typed."""
    if exact:
        return _Reading(tuple(((word,),) for word in words))
    known = synonyms.words
    units, shown, changed = [], [], False
    for phrase, alternatives in synonyms.units(words):
        if alternatives is not None:
            units.append(alternatives)
            present = [a for a in alternatives if all(_in_catalog(searcher, w) for w in a)]
            # A word the catalog has is no news, even when its synonyms find more.
            changed = changed or (bool(present) and phrase not in present)
            said = [" ".join(a) for a in present or [phrase]]
            shown.append(said[0] if len(said) == 1 else "(" + " or ".join(said) + ")")
            continue
        (word,) = phrase
        if word not in known and not _in_catalog(searcher, word):
            corrected = reader.vocabulary(searcher).correction(word)
            if corrected is not None:
                word, changed = corrected, True
        units.append(((word,),))
        shown.append(word)
    if changed and len(shown) == 1:
        shown = [shown[0].strip("()")]
    return _Reading(tuple(units), " ".join(shown) if changed else None)


def _in_catalog(searcher: tantivy.Searcher, word: str) -> bool:
    """Whether a product has `word` in its name, category or target (stemmed, or as written)."""
    if searcher.doc_freq("words", word):
        return True
    return any(searcher.doc_freq(field, token) for token in tokens(word) for field in BOOSTS)


class _Vocabulary:
    """The catalog's words, for corrections: each word's forms with up to two letters deleted
    point to it, so a misspelt word's candidates are looked up (a word within two edits of
    another shares such a form with it), never scanned for: a query of 32 unknown words costs
    a few milliseconds, not a pass over the vocabulary each."""

    def __init__(self, words: list[tuple[str, int]]):
        self.rank = {word: rank for rank, (word, _) in enumerate(words)}  # most products first
        self.by_form: dict[str, list[str]] = {}
        for word, _ in words:
            if not word.isdigit() and len(word) <= FUZZY_MAX_LETTERS:
                for form in _deletions(word, 2):
                    self.by_form.setdefault(form, []).append(word)

    def correction(self, word: str) -> str | None:
        """The catalog's word nearest `word` (one edit, two from FUZZY_TWO_EDITS_LETTERS
        letters), the most frequent among the nearest; None outside FUZZY_MIN_LETTERS to
        FUZZY_MAX_LETTERS letters or when none is that near."""
        if not FUZZY_MIN_LETTERS <= len(word) <= FUZZY_MAX_LETTERS:
            return None
        most = 1 if len(word) < FUZZY_TWO_EDITS_LETTERS else 2
        candidates = {c for form in _deletions(word, most) for c in self.by_form.get(form, ())}
        scored = [(_edits(word, c, most), self.rank[c], c) for c in candidates]
        best = min((entry for entry in scored if entry[0] <= most), default=None)
        return None if best is None else best[2]


def _deletions(word: str, most: int) -> set[str]:
    """`word` and its forms with up to `most` letters deleted."""
    forms, edge = {word}, {word}
    for _ in range(most):
        edge = {form[:i] + form[i + 1 :] for form in edge for i in range(len(form))}
        forms |= edge
    return forms


def _edits(a: str, b: str, most: int) -> int:
    """The edits (insert, delete, replace, swap of neighbours) from `a` to `b`; more than `most`
    once that is certain."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > most:
            return most + 1
        previous2, previous = previous, current
    return previous[-1]


def _units_query(units: tuple[tuple[Phrase, ...], ...], *, every: bool) -> tantivy.Query:
    """Each unit as any of its phrases, each phrase as all its words, each word as a term in
    the ranked fields (boosted); `every`: a product must match each unit, else any of them."""
    occur = tantivy.Occur.Must if every else tantivy.Occur.Should
    clauses = []
    for alternatives in units:
        options = []
        for phrase in alternatives:
            words = [query for word in phrase if (query := _word_query(word)) is not None]
            if len(words) == len(phrase):  # a word of no token is not a phrase to match
                options.append(
                    words[0]
                    if len(words) == 1
                    else tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in words])
                )
        if options:
            option = (
                options[0]
                if len(options) == 1
                else tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in options])
            )
            clauses.append((occur, option))
    if len(clauses) == 1:
        # One unit (most searches: one word) is its own query, not wrapped in a boolean of one
        # clause: the same matches and scores, and tantivy then ranks the union of its terms
        # directly (broad words at a million products: p50 20-30% lower, in one process).
        return clauses[0][1]
    return tantivy.Query.boolean_query(clauses) if clauses else tantivy.Query.empty_query()


def _word_query(word: str) -> tantivy.Query | None:
    """`word` as a term in the ranked fields, boosted; None when it has no token."""
    terms = [
        (
            tantivy.Occur.Should,
            tantivy.Query.boost_query(tantivy.Query.term_query(schema(), field, token), boost),
        )
        for token in tokens(word)
        for field, boost in BOOSTS.items()
    ]
    return tantivy.Query.boolean_query(terms) if terms else None


def _filtered(query: tantivy.Query, filters: Filters | None) -> tantivy.Query:
    """`query` restricted to products with every value in `filters` (unknown fields ignored)."""
    wanted = [
        (tantivy.Occur.Must, tantivy.Query.term_query(schema(), f"{field}_value", value))
        for field, value in (filters or {}).items()
        if field in FACETS and value
    ]
    if not wanted:
        return query
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, query), *wanted])


def _mixed(searcher: tantivy.Searcher, found: list) -> list:
    """`found` (score, address), categories mixed within near-ties (see TIE_SHARE) among the
    first DIVERSITY_POOL, the rest in the engine's order: the same order for every page."""
    pool = found[:DIVERSITY_POOL]
    groups = searcher.fast_field_values("group", [address for _, address in pool])
    return ties_mixed(pool, groups) + found[DIVERSITY_POOL:]


def _documents(searcher: tantivy.Searcher, found: list, *, scored: bool = True) -> list[SearchHit]:
    hits = []
    for score, address in found:
        document = searcher.doc(address)
        hits.append(
            SearchHit(
                document.get_first("sku"),
                float(score) if scored else 0.0,
                None,
                document.get_first("display"),
            )
        )
    return hits


def ties_mixed(found: list[tuple[float, object]], groups: list[int | None]) -> list:
    """`found` (score, address), best first, with each run of near-equal scores (within
    TIE_SHARE of its first) reordered so that its groups take turns, each group keeping its
    own order and the groups their order of first appearance."""
    count = len(found)
    if count < 2:
        return list(found)
    scores = np.fromiter((score for score, _ in found), dtype=np.float64, count=count)
    codes = np.array([-1 if group is None else group for group in groups], dtype=np.int64)
    run = np.zeros(count, dtype=np.int64)  # which run of near-ties each result is in
    start = 0
    while start < count:
        end = int(np.searchsorted(-scores, -scores[start] * (1 - TIE_SHARE), side="right"))
        run[start : max(end, start + 1)] = start
        start = max(end, start + 1)
    # A result's turn: how many of its run and group came before it.
    keys = run * (codes.max() + 2) + (codes + 1)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    first = np.r_[0, np.flatnonzero(np.diff(sorted_keys)) + 1]
    turn = np.empty(count, dtype=np.int64)
    turn[order] = np.arange(count) - np.repeat(first, np.diff(np.r_[first, count]))
    # Groups keep their order of first appearance within the run.
    appearance = np.empty(count, dtype=np.int64)
    appearance[order] = np.repeat(order[first], np.diff(np.r_[first, count]))
    mixed = np.lexsort((appearance, turn, run))
    return [found[i] for i in mixed.tolist()]


def _document(product: Product, *, code: int) -> tantivy.Document:
    category = product.category
    return tantivy.Document(
        sku=product.sku,
        code=code,
        name=possessives_drop(product.name),
        category=possessives_drop(category),
        target=product.target,
        words=f"{product.name} {category}",
        group=zlib.crc32(category.encode()) & 0x7FFFFFFF,
        target_value=product.target,
        category_value=category,
        price_up=_price_sortable(product, missing=math.inf),
        price_down=_price_sortable(product, missing=-math.inf),
        display=display_json(
            name=product.name, target=product.target, image=product.image, extra=product.extra
        ),
    )


def _price_sortable(product: Product, *, missing: float) -> float:
    price = product_price(product)
    return missing if price is None else price


def _index_open(folder: Path, *, create: bool = False) -> tantivy.Index:
    index = tantivy.Index(schema(), path=str(folder), reuse=not create)
    for name, analyzer in analyzers().items():
        index.register_tokenizer(name, analyzer)
    return index


def _live_folder(path: Path) -> Path | None:
    """The folder the link at `path` points to, or None when there is no link."""
    target = _link_target(path)
    return None if target is None else path.parent / target


def _link_target(path: Path) -> str | None:
    """What the link at `path` holds (a folder's name), or None when there is no link: one
    system call, checked at every search."""
    try:
        return os.readlink(path)
    except OSError:
        return None


def _state_read(folder: Path) -> IndexState:
    """The state `folder` records; UNRECORDED when none (or it is unreadable)."""
    try:
        return IndexState.from_json(json.loads((folder / STATE_FILE).read_text()))
    except (OSError, ValueError):
        return UNRECORDED


def _state_write(folder: Path, state: IndexState) -> None:
    """Replace the folder's state in one step: a reader sees the old one or the new one."""
    temporary = folder / f"{STATE_FILE}.{os.getpid()}"
    temporary.write_text(json.dumps(state.as_json()))
    os.replace(temporary, folder / STATE_FILE)


def _schema_version(path: Path) -> int | None:
    """The schema version of the index at `path`; None when there is none, or it is unreadable
    or of an older kind (an FTS5 file)."""
    folder = _live_folder(path)
    if folder is None:
        return None
    try:
        return int((folder / VERSION_FILE).read_text())
    except (OSError, ValueError):
        return None


class _SkuTable:
    """The SKUs of one index folder's product codes, read from SKUS_FILE as it grows."""

    def __init__(self, folder: Path):
        self.path = folder / SKUS_FILE
        self.skus: list[str] = []
        self.read_to = 0  # bytes of the file read so far
        self.lock = threading.Lock()

    def skus_of(self, codes: list[int]) -> list[str]:
        if codes and max(codes) >= len(self.skus):
            self._read_more()  # another process added products since
        return [self.skus[code] for code in codes]

    def codes(self) -> dict[str, int]:
        """SKU -> code, of every line written so far."""
        self._read_more()
        return {sku: code for code, sku in enumerate(self.skus)}

    def _read_more(self) -> None:
        with self.lock, self.path.open("rb") as lines:
            lines.seek(self.read_to)
            for line in lines:
                if not line.endswith(b"\n"):
                    break  # being written: read at the next call
                self.skus.append(json.loads(line))
                self.read_to += len(line)


@dataclass
class _Reader:
    """One process's reader of one index folder: the index, its SKU table, and the answers it
    gave while the index stayed as it was (the least recently asked dropped first): a shop's
    searches repeat ("shoes", "jacket"), and a repeated one then costs nothing but what the
    visitor adds. Each commit, by any process, changes meta.json: the answers go then."""

    folder: Path
    index: tantivy.Index
    table: _SkuTable
    generation: tuple = ()
    answers: OrderedDict = dataclasses.field(default_factory=OrderedDict)
    # SKU -> its stored hit (display fields, parsed once) read since the last commit: the cards
    # a shop shows repeat (its popular products, what a visitor viewed), and reading a stored
    # document costs more than the rest of a card. Shared: nobody changes a stored hit.
    displays: dict[str, SearchHit] = dataclasses.field(default_factory=dict)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    # The words of the products' names and categories, read once per commit when a word
    # must be corrected.
    words_known: _Vocabulary | None = None

    def __post_init__(self) -> None:
        self.link_target = self.folder.name  # what the index's link holds while this is live
        self.meta_path = str(self.folder / "meta.json")

    def refresh(self) -> None:
        """Bring the reader up to the last commit of any process (one stat when none came)."""
        generation = _generation(self)
        if generation != self.generation:
            with self.lock:
                self.index.reload()
                self.answers.clear()
                self.displays.clear()
                self.words_known = None
                self.generation = generation

    def vocabulary(self, searcher: tantivy.Searcher) -> _Vocabulary:
        """The catalog's words (see `words_known`)."""
        words = self.words_known
        if words is None:
            words = self.words_known = _Vocabulary(searcher.terms_with_prefix("words", ""))
        return words

    def displays_remember(self, hits: list[SearchHit], generation: tuple) -> None:
        with self.lock:
            if generation != self.generation:
                return  # read before a commit that came since
            if len(self.displays) > DISPLAYS_KEPT:
                self.displays.clear()
            self.displays.update((hit.sku, hit) for hit in hits if hit.display)

    def answer(self, key: tuple, generation: tuple):
        """The answer kept for `key`, if it was read under `generation` and that is current."""
        with self.lock:
            kept = self.answers.get(key)
            if kept is None or kept[0] != generation or generation != self.generation:
                return None
            self.answers.move_to_end(key)
            return kept[1]

    def remember(self, key: tuple, answer, generation: tuple, *, entries: int) -> None:
        if entries <= 0:
            return
        with self.lock:
            if generation != self.generation:
                return  # read before a commit that came since
            self.answers[key] = (generation, answer)
            while len(self.answers) > entries:
                self.answers.popitem(last=False)

    def hits(self, searcher: tantivy.Searcher, found: list) -> list[SearchHit]:
        """`found` (score, address) as hits. A few (a page) with their display fields; more (a
        re-rank window) by their codes alone, no stored document read: the display fields of
        the results shown are then asked for by `products_stored`."""
        if len(found) <= DISPLAYED_WITH_HITS:
            return _documents(searcher, found)
        codes = searcher.fast_field_values("code", [address for _, address in found])
        skus = self.table.skus_of(codes)
        return [SearchHit(sku, float(score)) for sku, (score, _) in zip(skus, found, strict=True)]


def _reader(path: Path) -> _Reader:
    """This process's reader of the index the link at `path` points to, opened anew once a
    rebuild has swapped the link, and brought up to the last commit of any process."""
    folder = _live_folder(path)
    if folder is None:
        raise SearchUnavailable(f"cannot open the search index {path}: it does not exist")
    with _readers_lock:
        kept = _readers.get(path)
        if kept is None or kept.folder != folder:
            try:
                kept = _Reader(folder, _index_open(folder), _SkuTable(folder))
            except (ValueError, OSError) as exc:
                raise SearchUnavailable(f"cannot open the search index {path}: {exc}") from exc
            _readers[path] = kept
    try:
        kept.refresh()  # another process's commit shows at once
    except (ValueError, OSError) as exc:
        _reader_forget(path)
        raise SearchUnavailable(f"cannot read the search index {path}: {exc}") from exc
    return kept


def _generation(reader: _Reader) -> tuple:
    """What changes with every commit to the reader's folder (tantivy rewrites meta.json)."""
    meta = os.stat(reader.meta_path)
    return (meta.st_ino, meta.st_mtime_ns, meta.st_size)


def _reader_forget(path: Path) -> None:
    with _readers_lock:
        _readers.pop(path, None)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


_readers: dict[Path, _Reader] = {}
_readers_lock = threading.Lock()


def _build_abandon(writer, folder: Path) -> None:
    """Remove a folder whose build failed. Its writer is rolled back and its threads joined
    first: until then they may write into the folder while it is removed, leaving files (and
    the folder) behind."""
    if writer is not None:
        try:
            writer.rollback()
            writer.wait_merging_threads()
        except (ValueError, RuntimeError):  # already waited on: nothing runs
            pass
    shutil.rmtree(folder, ignore_errors=True)
