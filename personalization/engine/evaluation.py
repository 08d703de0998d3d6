"""Offline evaluation of next-item recommenders on logged sessions (session-rec's protocol), the
baselines they must beat, and the comparison that `evaluate_recommendations` prints."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import sparse

from .prod2vec import Prod2VecParams, prod2vec_train
from .recommender import (
    NOT_RANKED,
    RecommenderConfig,
    SessionRecommender,
)

# Score matrices of one batch stay near this many cells (float32: 16 MiB).
BATCH_CELLS = 1 << 22


class Scorer(Protocol):
    """What the evaluation needs: the items it ranks, and a score for each given a prefix.

    A score of NOT_RANKED (-inf) or NaN means "no evidence": such an item is never a hit.
    A scorer may also offer `scores_batch(prefixes) -> (len(prefixes), len(items))` array.
    """

    @property
    def items(self) -> Sequence[str]: ...

    def scores(self, skus: Sequence[str]) -> np.ndarray: ...


@dataclass
class Metrics:
    hr: float  # share of predictions with the true item in the top k (0..1)
    mrr: float  # mean of 1/rank, 0 outside the top k (0..1)
    predictions: int
    k: int = 20

    def line(self, name: str) -> str:
        return f"{name} HR@{self.k} {100 * self.hr:.2f} MRR@{self.k} {100 * self.mrr:.2f}"

    def as_dict(self) -> dict[str, float | int]:
        """For storage and display: hr and mrr in percent, rounded to 2 decimals."""
        return {
            "hr": round(100 * self.hr, 2),
            "mrr": round(100 * self.mrr, 2),
            "predictions": self.predictions,
            "k": self.k,
        }


def next_item_evaluate(
    scorer: Scorer, test_sessions: Iterable[Sequence[str]], *, k: int = 20
) -> Metrics:
    """HR@k and MRR@k of `scorer` over every position i >= 1 of every test session.

    The item at position i is ranked among all of the scorer's items given positions 0..i-1.
    rank = 1 + the number of items with a strictly higher score (session-rec's and GRU4Rec's
    convention): ties count in the true item's favour, which is why scorers mark items they
    have no evidence for NOT_RANKED instead of leaving them tied at zero; a true item that is
    NOT_RANKED (or NaN), or that the scorer does not know (unseen in training), is a miss.
    Repeated items are kept and already-viewed items stay candidates.
    """
    index = {sku: i for i, sku in enumerate(scorer.items)}
    batch_size = max(1, BATCH_CELLS // max(1, len(index)))
    hits, reciprocal, predictions = 0, 0.0, 0
    for prefixes, targets in _predictions_batched(test_sessions, index, batch_size):
        predictions += len(targets)
        known = np.flatnonzero(targets >= 0)
        if not len(known):
            continue
        table = _scores_batch(scorer, [prefixes[i] for i in known])
        if sparse.issparse(table):
            ranks = _sparse_ranks(table, targets[known], k)
        else:
            # The rank needs only the true item's score: one vectorised comparison per batch,
            # no sort or argpartition of the candidates.
            true = table[np.arange(len(known)), targets[known]]
            ranks = 1 + np.count_nonzero(table > true[:, None], axis=1)
            ranks = ranks[np.isfinite(true) & (ranks <= k)]
        hits += len(ranks)
        reciprocal += float(np.sum(1.0 / ranks))
    if not predictions:
        return Metrics(hr=0.0, mrr=0.0, predictions=0, k=k)
    return Metrics(
        hr=hits / predictions, mrr=reciprocal / predictions, predictions=predictions, k=k
    )


class PopularityBaseline:
    """Every prefix gets the same ranking: items by how often they were viewed in training."""

    def __init__(self, items: list[str], counts: np.ndarray):
        self.items = items
        self.counts = counts

    @classmethod
    def fit(cls, sessions: Iterable[Sequence[str]]) -> PopularityBaseline:
        index: dict[str, int] = {}
        codes = [index.setdefault(sku, len(index)) for skus in sessions for sku in skus]
        counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=len(index))
        return cls(list(index), counts.astype(np.float32))

    def scores(self, skus: Sequence[str]) -> np.ndarray:
        return self.counts.copy()

    def scores_batch(self, prefixes: Sequence[Sequence[str]]) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(prefixes), len(self.counts)))


class ItemKnnBaseline:
    """session-rec's iknn: items similar to the last viewed one by session co-occurrence.

    s(i, j) = co(i, j) / ((supp_i + lambda)^alpha * (supp_j + lambda)^(1 - alpha)), where
    co(i, j) = sum over sessions of (views of i) * (1 if j was viewed), supp counts views, and
    s(i, i) = 0: session-rec adds 1 per view of i to every item of its session (its NumPy
    fancy-indexed `+=` counts an item viewed twice once). Items that never co-occurred with the
    last item are NOT_RANKED (session-rec leaves them at 0, below every neighbour once its
    ties are broken at random).
    """

    def __init__(self, items: list[str], similarity: sparse.csr_matrix):
        self.items = items
        self.index = {sku: i for i, sku in enumerate(items)}
        self.similarity = similarity

    @classmethod
    def fit(
        cls, sessions: Iterable[Sequence[str]], *, regularization: float = 20, alpha: float = 0.5
    ) -> ItemKnnBaseline:
        index: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for row, skus in enumerate(sessions):
            cols.extend(index.setdefault(sku, len(index)) for sku in skus)
            rows.extend([row] * len(skus))
        views = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(max(rows, default=-1) + 1, len(index)),
        )  # (session, item) entries summed: views per session
        seen = views.copy()
        seen.data[:] = 1
        together = (views.T @ seen).tocsr()
        together.setdiag(0)
        together.eliminate_zeros()
        support = np.asarray(views.sum(axis=0)).ravel() + regularization
        left = sparse.diags(support ** (-alpha))
        right = sparse.diags(support ** (alpha - 1))
        return cls(list(index), (left @ together @ right).astype(np.float32).tocsr())

    def scores(self, skus: Sequence[str]) -> np.ndarray:
        return self.scores_batch([skus])[0]

    def scores_batch(self, prefixes: Sequence[Sequence[str]]) -> np.ndarray:
        table = np.full((len(prefixes), len(self.items)), NOT_RANKED, dtype=np.float32)
        for row, skus in enumerate(prefixes):
            last = self.index.get(skus[-1]) if skus else None
            if last is not None:
                start, end = self.similarity.indptr[last], self.similarity.indptr[last + 1]
                table[row, self.similarity.indices[start:end]] = self.similarity.data[start:end]
        return table


def recommenders_compare(
    train_sessions: Sequence[Sequence[str]],
    test_sessions: Sequence[Sequence[str]],
    *,
    params: Prod2VecParams,
    config: RecommenderConfig,
    k: int = 20,
    on_epoch: Callable[[int, int, float], None] | None = None,
) -> dict[str, Metrics]:
    """Train prod2vec once on `train_sessions`, build the default recommender with `config`,
    and evaluate it and the other methods as `methods_evaluate` does."""
    trained = prod2vec_train(train_sessions, params, on_epoch=on_epoch)
    recommender = SessionRecommender.build(trained.vectors, train_sessions, config)
    return methods_evaluate(recommender, train_sessions, test_sessions, k=k)


def methods_scorers(
    recommender: SessionRecommender, train_sessions: Iterable[Sequence[str]]
) -> dict[str, Scorer]:
    """What a built recommender is compared with, in this order: the baselines fitted on
    `train_sessions` ("popularity", "item-knn"), the session vector alone ("session-vector",
    with the recommender's recency and dedupe), each of its count components alone (by name),
    and the recommender itself ("default"). They share its vectors and fitted components."""
    scorers: dict[str, Scorer] = {
        "popularity": PopularityBaseline.fit(train_sessions),
        "item-knn": ItemKnnBaseline.fit(train_sessions),
        "session-vector": SessionRecommender(
            recommender.vectors, dataclasses.replace(recommender.config, components=())
        ),
    }
    for name, component in recommender.components.items():
        scorers[name] = SessionRecommender(
            recommender.vectors,
            dataclasses.replace(recommender.config, components=(name,), fallback=False),
            components={name: component},
        )
    scorers["default"] = recommender
    return scorers


def methods_evaluate(
    recommender: SessionRecommender,
    train_sessions: Iterable[Sequence[str]],
    test_sessions: Sequence[Sequence[str]],
    *,
    k: int = 20,
) -> dict[str, Metrics]:
    """Metrics of a built recommender and of what `methods_scorers` compares it with.
    `train_sessions` may be any re-iterable corpus."""
    scorers = methods_scorers(recommender, train_sessions)
    return {
        name: next_item_evaluate(scorer, test_sessions, k=k) for name, scorer in scorers.items()
    }


def _predictions_batched(
    sessions: Iterable[Sequence[str]], index: dict[str, int], batch_size: int
) -> Iterator[tuple[list[Sequence[str]], np.ndarray]]:
    prefixes: list[Sequence[str]] = []
    targets: list[int] = []
    for skus in sessions:
        for position in range(1, len(skus)):
            prefixes.append(skus[:position])
            targets.append(index.get(skus[position], -1))
            if len(prefixes) == batch_size:
                yield prefixes, np.asarray(targets, dtype=np.int64)
                prefixes, targets = [], []
    if prefixes:
        yield prefixes, np.asarray(targets, dtype=np.int64)


def _sparse_ranks(table: sparse.spmatrix, targets: np.ndarray, k: int) -> np.ndarray:
    """The ranks (at most k) of the true items that have a stored score in `table`: the
    stored entries are the items with evidence, every other one is NOT_RANKED."""
    table = sparse.csr_matrix(table)
    rows = np.arange(table.shape[0])
    true = np.asarray(table[rows, targets]).ravel()
    stored = np.zeros(len(rows), dtype=bool)
    # a stored zero is evidence too: look the target up among the row's columns
    owners = np.repeat(rows, np.diff(table.indptr))
    found = table.indices == targets[owners]
    stored[owners[found]] = True
    higher = np.bincount(owners, weights=table.data > true[owners], minlength=len(rows))
    ranks = 1 + higher.astype(np.int64)
    return ranks[stored & np.isfinite(true) & (ranks <= k)]


def _scores_batch(scorer: Scorer, prefixes: list[Sequence[str]]) -> np.ndarray:
    batch = getattr(scorer, "scores_batch", None)
    if batch is not None:
        table = batch(prefixes)
        return table if sparse.issparse(table) else np.asarray(table)
    return np.stack([np.asarray(scorer.scores(prefix)) for prefix in prefixes])
