"""The baselines a recommender must beat in the offline evaluation: popularity, and
session-rec's item-kNN on the last viewed item."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse

from .model import NOT_RANKED

SPARSE_BATCH_ROWS = 1000  # prefixes at a time for scorers whose scores are sparse


class PopularityBaseline:
    """Every prefix gets the same ranking: items by how often they were viewed in training."""

    batch_rows = SPARSE_BATCH_ROWS

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

    def ranks_batch(
        self, prefixes: Sequence[Sequence[str]], targets: np.ndarray, k: int
    ) -> np.ndarray:
        # the same ranking for every prefix: 1 + the items viewed more often than the target
        descending = np.sort(self.counts)[::-1]
        higher = np.searchsorted(-descending, -self.counts[targets], side="left")
        ranks = 1 + higher
        return np.where(ranks <= k, ranks, 0)


class ItemKnnBaseline:
    """session-rec's iknn: items similar to the last viewed one by session co-occurrence.

    s(i, j) = co(i, j) / ((supp_i + lambda)^alpha * (supp_j + lambda)^(1 - alpha)), where
    co(i, j) = sum over sessions of (views of i) * (1 if j was viewed), supp counts views, and
    s(i, i) = 0: session-rec adds 1 per view of i to every item of its session (its NumPy
    fancy-indexed `+=` counts an item viewed twice once). Items that never co-occurred with the
    last item are NOT_RANKED (session-rec leaves them at 0, below every neighbour once its
    ties are broken at random).
    """

    batch_rows = SPARSE_BATCH_ROWS

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
        row = self.scores_batch([skus])
        scores = np.full(len(self.items), NOT_RANKED, dtype=np.float32)
        scores[row.indices] = row.data
        return scores

    def scores_batch(self, prefixes: Sequence[Sequence[str]]) -> sparse.csr_matrix:
        """The last item's similarity row for each prefix: the stored entries are the items
        that co-occurred with it (every other one is NOT_RANKED)."""
        last = [self.index.get(skus[-1], -1) if skus else -1 for skus in prefixes]
        rows = np.asarray(last, dtype=np.int64)
        table = sparse.csr_matrix(self.similarity[np.maximum(rows, 0)])
        if np.any(rows < 0):
            table = sparse.csr_matrix(sparse.diags((rows >= 0).astype(np.float32)) @ table)
            table.eliminate_zeros()
        return table
