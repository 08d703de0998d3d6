"""Clothes in space: the product map, a visitor's path across it, nearest neighbours and
analogies, for products and (when one is trained) for words."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from catalog.changes import catalog_state
from catalog.models import Product
from catalog.search import catalog_search
from catalog.search.embedded import TIE_SHARE
from common.progress import Progress

from .engine.analogies import analogy_answers
from .engine.projection import point_place
from .model_files import version_folder
from .models import EmbeddingVersion
from .serving import ActiveModel, model_active, recommender_load
from .state import VisitorState
from .training import SAMPLE_WORD_CORPUS

Kind = EmbeddingVersion.Kind
# Search matches read when a typed name is no SKU: enough for every product of one kind (a
# name like "men's rain jacket" ties with a few dozen on the sample shop).
RESOLVE_CANDIDATES = 200


class SpaceUnavailable(Exception):
    """No model of that kind is active, or the active one has no map: the message says which
    and what to do, for a page or an API answer."""


class NotInSpace(KeyError):
    """A product or word the active model has no vector for."""

    def __init__(self, key: str, kind: str):
        super().__init__(key)
        self.key, self.kind = key, kind

    def __str__(self) -> str:
        what = "word" if self.kind == Kind.WORD else "product"
        return f"the {what} {self.key!r} is not in the model (it was never seen in training)"


@dataclass(frozen=True)
class SpaceMap:
    version_id: int
    points: list[dict]  # {"sku", "x", "y", "target", "category", "activity", "name", "image"}
    targets: list[str]  # the targets present, most common first
    catalog: str = ""  # the catalog version its names and pictures are of (CatalogState.label)

    @cached_property
    def json(self) -> bytes:
        """The map as JSON, encoded once per version in each process (some 8 MB at 50,000
        products, which take a sixth of a second to encode)."""
        return json.dumps(
            {"version": self.version_id, "targets": self.targets, "points": self.points}
        ).encode()


def space_model(kind: str = Kind.PRODUCT) -> ActiveModel:
    """The active model of `kind`, or SpaceUnavailable with what to do about it."""
    model = model_active(kind)
    if model is not None:
        return model
    if kind == Kind.WORD:
        raise SpaceUnavailable(
            "No word model is trained yet: `python manage.py train_word_embeddings --sample` "
            "trains one in seconds on the 300 news paragraphs that gensim ships (--corpus and "
            "a text file of yours, a sentence a line, trains one on your own words)."
        )
    raise SpaceUnavailable(
        "No product model is trained yet: load sessions and train one (`python manage.py "
        "train_embeddings`, or Retrain in the admin)."
    )


def space_map() -> SpaceMap:
    """Every product of the active model with its place on the map (computed at training),
    built once per model and catalog version in each process: places come from the model,
    names, audiences and pictures from the catalog, which can change under the same model."""
    model = space_model()
    if model.projection is None:
        raise SpaceUnavailable(map_missing_message(model.version_id))
    catalog = catalog_state().label  # (one primary-key read) before the products are read
    # Model ids are reused when a test database rolls back: the folder tells them apart.
    key = (model.version_id, model.directory, catalog)
    with _map_lock:
        cached = _maps.get(key)
        if cached is None:
            cached = _map_build(model, catalog=catalog)
            _maps.clear()  # only the active version's map is kept
            _maps[key] = cached
    return cached


def map_missing_message(version_id: int) -> str:
    return f"Model v{version_id} was trained before maps were drawn: retrain to see it."


def space_session(state: VisitorState) -> dict:
    """A visitor's path on the active model's map: the products viewed, in order, with their
    places, and where their session vector sits (None before a view, or without a map).
    Notices say when the visitor's state cannot be read."""
    model = space_model()
    answer = {
        "version": model.version_id,
        "path": [],
        "marker": None,
        "notices": list(state.notices),
    }
    if not state.skus or model.projection is None:
        return answer
    index = model.recommender.index
    answer["path"] = [
        {"sku": sku, "x": float(x), "y": float(y)}
        for sku in state.skus
        if sku in index
        for x, y in [model.projection[index[sku]]]
    ]
    vector = state.vector(model)
    if vector is not None:
        place = point_place(vector, model.recommender.vectors.vectors, model.projection)
        if place is not None:
            answer["marker"] = {"x": place[0], "y": place[1]}
    return answer


def neighbours(key: str, *, kind: str = Kind.PRODUCT, limit: int = 10) -> list[tuple[str, float]]:
    """(key, cosine) of the `limit` nearest products (or words) to `key`, itself left out."""
    recommender = space_model(kind).recommender
    if key not in recommender.index:
        raise NotInSpace(key, kind)
    return recommender.similar(key, k=limit)


def analogy(
    a: str | Sequence[str],
    b: str | Sequence[str],
    c: str | Sequence[str],
    *,
    kind: str = Kind.PRODUCT,
    limit: int = 10,
) -> list[tuple[str, float]]:
    """ "`a` is to `b` as `c` is to ?": the best answers with their scores, over the active
    model's vectors (`analogy_answers` says how). Each term is a key, or several: a kind of
    product, as `term_resolve` gives for a name."""
    vectors = space_model(kind).recommender.vectors
    try:
        return analogy_answers(vectors, a, b, c, limit=limit)
    except KeyError as missing:
        raise NotInSpace(missing.args[0], kind) from None


@dataclass(frozen=True)
class Term:
    """What a typed term stands for: one product or word, or, for a product's name such as
    "men's rain jacket", every product that the search finds as relevant to it as the best
    match (within the search's own near-tie share): the kind of product that the name
    describes. `keys[0]`, the best match, represents it."""

    text: str
    keys: tuple[str, ...]

    @property
    def key(self) -> str:
        return self.keys[0]


def term_resolve(text: str, *, kind: str = Kind.PRODUCT) -> Term:
    """The product (or word) a visitor means by `text`: a SKU or word the model knows as
    typed; for products, else the search matches for it that the model knows and that tie
    with the best one ("men's rain jacket" finds the men's rain jackets, a product's full name
    that product). NotInSpace when there is none."""
    vectors = space_model(kind).recommender.vectors
    text = text.strip()
    if kind == Kind.WORD:
        text = text.lower()
    if text in vectors.key_to_index:
        return Term(text, (text,))
    if kind == Kind.PRODUCT and text:
        hits = catalog_search(text, limit=RESOLVE_CANDIDATES).hits
        known = [hit for hit in hits if hit.sku in vectors.key_to_index]
        if known:
            # The engine mixes categories among near-ties, so the best need not come first.
            best = max(hit.score for hit in known)
            if best <= 0:  # an engine that gives no scores: its first match
                return Term(text, (known[0].sku,))
            tied = [hit.sku for hit in known if hit.score >= best * (1 - TIE_SHARE)]
            return Term(text, tuple(dict.fromkeys(tied)))
    raise NotInSpace(text, kind)


@dataclass(frozen=True)
class WordExamples:
    """What the word explorer offers to try: a word for neighbours and analogies (a, b, c,
    the answer), each one its model answers right first."""

    neighbours_of: str
    analogies: tuple[tuple[str, str, str, str], ...]


# The sample corpus knows people's full names, not grammar or geography: each of these analogies
# comes first in 11 or 12 of 12 trainings (two workers make each training differ a little),
# where "man : woman :: king" or "israel : jerusalem :: afghanistan" never do (docs/tuning.md
# has the command and the figures).
SAMPLE_WORD_EXAMPLES = WordExamples(
    neighbours_of="fire",
    analogies=(
        ("george", "bush", "dick", "cheney"),
        ("alexander", "downer", "simon", "crean"),
        ("steve", "waugh", "lleyton", "hewitt"),
        ("colin", "powell", "hamid", "karzai"),
    ),
)
# For a corpus of one's own, of the size analogies need: the textbook example.
LARGE_WORD_EXAMPLES = WordExamples("president", (("man", "king", "woman", "queen"),))


@dataclass
class Exploration:
    """What the explorer page shows: the terms as resolved, and the answers or the problem."""

    kind: str
    neighbours_of: str | None = None
    neighbours: list[tuple[str, float]] | None = None
    analogy_terms: tuple[Term, Term, Term] | None = None
    analogy: list[tuple[str, float]] | None = None
    problems: list[str] = field(default_factory=list)
    about: str = ""  # for words: what the model learned from
    examples: WordExamples | None = None  # for words: what to try


def explore(
    kind: str,
    *,
    of: str | None = None,
    a: str | None = None,
    b: str | None = None,
    c: str | None = None,
    limit: int = 8,
) -> Exploration:
    """Neighbours of `of` and the analogy a : b = c : ?, each when asked (not None), with
    names or SKUs resolved as `term_resolve` does: neighbours of the best match, the analogy
    between kinds of products. A question asked with a term left blank says what to fill in.
    Problems are collected, not raised."""
    found = Exploration(kind)
    try:
        model = space_model(kind)
    except SpaceUnavailable as exc:
        found.problems.append(str(exc))
        return found
    if kind == Kind.WORD:
        found.about = word_model_about(model.version_id)
        found.examples = word_examples(model.version_id)
    if of is not None and not of.strip():
        what = "a word" if kind == Kind.WORD else "a SKU or a product's name"
        found.problems.append(f"Type {what} to find what sits nearest to it.")
    elif of is not None:
        try:
            found.neighbours_of = term_resolve(of, kind=kind).key
            found.neighbours = neighbours(found.neighbours_of, kind=kind, limit=limit)
        except NotInSpace as exc:
            found.problems.append(_capitalized(str(exc)))
    asked = (a, b, c)
    blank = [label for label, term in zip("ABC", asked, strict=True) if not (term or "").strip()]
    if any(term is not None for term in asked) and blank:
        found.problems.append(
            "An analogy reads “A is to B as C is to ?” and needs all three: fill in "
            f"{_listed(blank)}."
        )
    elif not blank:
        try:
            terms = tuple(term_resolve(term, kind=kind) for term in (a, b, c))
            found.analogy_terms = terms
            found.analogy = analogy(*(term.keys for term in terms), kind=kind, limit=limit)
        except NotInSpace as exc:
            found.problems.append(_capitalized(str(exc)))
    return found


def word_model_about(version_id: int) -> str:
    """A line on what the word model learned from, so that a small corpus's answers are read
    for what they are."""
    version = EmbeddingVersion.objects.filter(pk=version_id).first()
    if version is None:
        return ""
    about = (
        f"Word model v{version.pk}: {version.vocabulary:,} words with a vector, learned from "
        f"{version.events:,} words of {Path(version.corpus).name or 'text'}."
    )
    if Path(version.corpus).name == SAMPLE_WORD_CORPUS:
        about += (
            " That is the Lee Background Corpus gensim ships: 300 stories of the Australian "
            "Broadcasting Corporation's news from late 2001 (bushfires, Afghanistan, the "
            "Middle East, cricket). Ask it about its news, not about clothes: it knows who is "
            "who, while analogies of grammar or geography need millions of words "
            "(train_word_embeddings --corpus with a text of your own)."
        )
    return about


def word_examples(version_id: int) -> WordExamples:
    """The examples the word explorer leads with: for the sample corpus, ones it answers
    right."""
    corpus = EmbeddingVersion.objects.filter(pk=version_id).values_list("corpus", flat=True)
    if Path(corpus.first() or "").name == SAMPLE_WORD_CORPUS:
        return SAMPLE_WORD_EXAMPLES
    return LARGE_WORD_EXAMPLES


def _listed(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _map_build(model: ActiveModel, *, catalog: str) -> SpaceMap:
    items = model.recommender.items
    coordinates = np.asarray(model.projection).round(4).tolist()
    products = Product.objects.order_by().in_bulk(items)
    points = []
    counts: dict[str, int] = {}
    for sku, (x, y) in zip(items, coordinates, strict=True):
        product = products.get(sku)
        if product is None:  # left the catalog since training
            continue
        points.append(
            {
                "sku": sku,
                "x": x,
                "y": y,
                "target": product.target,
                "category": product.category,
                "activity": str(product.extra.get("activity", "")),
                "name": product.name,
                "image": product.image_url,
            }
        )
        counts[product.target] = counts.get(product.target, 0) + 1
    targets = sorted(counts, key=lambda target: (-counts[target], target))
    return SpaceMap(model.version_id, points, targets, catalog)


_maps: dict[tuple, SpaceMap] = {}
_map_lock = threading.Lock()


@dataclass(frozen=True)
class ProjectorExport:
    version_id: int
    kind: str
    rows: int
    dimensions: int


def projector_export(
    directory: Path, *, version: EmbeddingVersion | None = None, progress: Progress | None = None
) -> ProjectorExport:
    """Write `vectors.tsv` and `meta.tsv` for the TensorBoard Embedding Projector
    (projector.tensorflow.org: Load, then the two files) into `directory`.

    `version`: default the active product version. Products get a metadata header
    (sku, name, target); words a single column without one, as the Projector expects.
    """
    if version is None:
        version = EmbeddingVersion.objects.filter(kind=Kind.PRODUCT, is_active=True).first()
        if version is None:
            raise SpaceUnavailable("no product model is active: train one, or pass --version")
    if version.status != EmbeddingVersion.Status.SUCCEEDED or not version.path:
        raise SpaceUnavailable(f"v{version.pk} has no trained vectors ({version.status})")
    vectors = recommender_load(version.kind, version_folder(version.path)).vectors
    keys, matrix = vectors.index_to_key, np.asarray(vectors.vectors)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    products = {}
    if version.kind == Kind.PRODUCT:
        products = Product.objects.order_by().in_bulk(keys)
    with (
        (directory / "vectors.tsv").open("w", encoding="utf-8", newline="\n") as vectors_out,
        (directory / "meta.tsv").open("w", encoding="utf-8", newline="\n") as meta_out,
    ):
        if version.kind == Kind.PRODUCT:
            meta_out.write("sku\tname\ttarget\n")
        for done, (key, row) in enumerate(zip(keys, matrix, strict=True), start=1):
            vectors_out.write("\t".join(f"{value:.6g}" for value in row.tolist()) + "\n")
            if version.kind == Kind.PRODUCT:
                product = products.get(key)
                fields = [key, product.name if product else "", product.target if product else ""]
            else:
                fields = [key]
            meta_out.write("\t".join(_tsv_field(field) for field in fields) + "\n")
            if progress is not None and done % 1000 == 0:
                progress.update(1000)
    return ProjectorExport(version.pk, version.kind, len(keys), matrix.shape[1])


def _tsv_field(text: str) -> str:
    """A TSV cell: tabs and line breaks would split it, so they become spaces."""
    return " ".join(str(text).split()) if any(c in str(text) for c in "\t\r\n") else str(text)
