"""What the recommender blends: each component scores every product for a batch of sessions.

All but the session vector are counts over the training sessions, fitted in one pass, with no
gradient training:

- session neighbours (V-SKNN, Ludewig and Jannach): the training sessions that share the most
  (recent, rare) products with this one, and what they viewed;
- transitions: what shoppers viewed next, within a few views, after the products viewed here
  (directed: after, not before);
- co-occurrence: what was viewed near them, either side;
- repeats: the products of this session itself, viewed again (RepeatNet's re-consumption);
- the session vector (prod2vec): cosine with the recency-weighted mean of the viewed products.

Each sparse component's row sums to one (a distribution over products), so blend weights say
how much each is trusted, whatever its scale. A product a component has no evidence for scores
0 there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from .config import RecommenderConfig

# Co-occurrence and transitions are counted this many views at a time, so memory stays flat.
COUNT_CHUNK = 1 << 18


@dataclass(frozen=True)
class Prefixes:
    """A batch of sessions so far, as matrices over the products (one row per session).

    `recency`: each viewed product once, weighted 2^(-age / half_life) by its latest view (age in
    views, the latest is 0); `views`: every view so weighted, summed per product.
    """

    recency: sparse.csr_matrix
    views: sparse.csr_matrix
    repeated: np.ndarray  # True for a session that has viewed some product twice
    counts: sparse.csr_matrix  # each product's views, every view counted 1


def prefixes_encode(
    prefixes: Sequence[Sequence[str]], index: dict[str, int], *, half_life: float | None
) -> Prefixes:
    """Encode sessions of SKUs (oldest first). Unknown SKUs are left out but still age the
    views before them. `half_life` None weighs every view 1."""
    rows: list[int] = []
    codes: list[int] = []
    ages: list[int] = []
    for row, skus in enumerate(prefixes):
        length = len(skus)
        for position, sku in enumerate(skus):
            code = index.get(sku)
            if code is not None:
                rows.append(row)
                codes.append(code)
                ages.append(length - 1 - position)
    if half_life is None:
        weights = np.ones(len(ages), dtype=np.float32)
    else:
        weights = np.exp2(-np.asarray(ages, dtype=np.float32) / half_life)
    shape = (len(prefixes), len(index))
    views = sparse.csr_matrix((weights, (rows, codes)), shape=shape, dtype=np.float32)
    # The latest view of a product is its largest weight: coo -> csr sums duplicates, so take
    # the maximum through a sort instead.
    rows_array, codes_array = np.asarray(rows, dtype=np.int64), np.asarray(codes, dtype=np.int64)
    order = np.lexsort((-weights, codes_array, rows_array))
    first = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        keys = rows_array[order] * shape[1] + codes_array[order]
        first[1:] = keys[1:] != keys[:-1]
    kept = order[first]
    recency = sparse.csr_matrix(
        (weights[kept], (rows_array[kept], codes_array[kept])), shape=shape, dtype=np.float32
    )
    views_per_row = np.bincount(rows_array, minlength=shape[0])
    distinct_per_row = np.bincount(rows_array[kept], minlength=shape[0])
    counts = sparse.csr_matrix(
        (np.ones(len(rows_array), dtype=np.float32), (rows_array, codes_array)),
        shape=shape,
        dtype=np.float32,
    )
    return Prefixes(
        recency=recency,
        views=views,
        repeated=views_per_row > distinct_per_row,
        counts=counts,
    )


def rows_normalize(matrix: sparse.spmatrix) -> sparse.csr_matrix:
    """Each row divided by its sum (rows of zeros stay zero)."""
    matrix = sparse.csr_matrix(matrix, dtype=np.float32)
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    totals[totals == 0] = 1
    return (sparse.diags((1 / totals).astype(np.float32)) @ matrix).tocsr()


def rows_top(matrix: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """`matrix` with only the k largest entries of each row kept."""
    matrix = sparse.csr_matrix(matrix, copy=True)
    lengths = np.diff(matrix.indptr)
    if not np.any(lengths > k):
        return matrix
    keep = np.ones(len(matrix.data), dtype=bool)
    for row in np.flatnonzero(lengths > k):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        dropped = np.argpartition(-matrix.data[start:end], k - 1)[k:]
        keep[start + dropped] = False
    matrix.data[~keep] = 0
    matrix.eliminate_zeros()
    return matrix


def sessions_encode(sessions: Sequence[Sequence[str]], index: dict[str, int]) -> sparse.csr_matrix:
    """The sessions as one CSR matrix whose row i lists session i's product codes in view order
    in `.indices` (unknown SKUs dropped; a product viewed twice appears twice): compact, and
    each component reads what it needs from it."""
    indptr = [0]
    codes: list[int] = []
    for skus in sessions:
        codes.extend(code for code in map(index.get, skus) if code is not None)
        indptr.append(len(codes))
    data = np.ones(len(codes), dtype=np.float32)
    return sparse.csr_matrix(
        (data, np.asarray(codes, dtype=np.int32), np.asarray(indptr, dtype=np.int64)),
        shape=(len(sessions), len(index)),
    )


class SessionNeighbours:
    """V-SKNN: score(j) = sum over the k training sessions most similar to this one of their
    similarity, for each product j they viewed.

    similarity(s, n) = sum over the products p viewed in both of recency_s(p) * idf(p), where
    recency is the session's own (its latest product weighs most) and idf = log(sessions /
    sessions with p) lets rare shared products count more than ubiquitous ones.
    """

    def __init__(self, incidence: sparse.csr_matrix, idf: np.ndarray, *, k: int):
        self.incidence = incidence  # (training sessions, products), 1 where viewed
        self.by_product = incidence.T.tocsr()  # the same, a row per product: sessions with it
        self.idf = idf
        self.k = k

    @classmethod
    def fit(cls, encoded: sparse.csr_matrix, *, k: int) -> SessionNeighbours:
        incidence = encoded.copy()
        incidence.sum_duplicates()
        incidence.data[:] = 1
        sessions = max(1, incidence.shape[0])
        counts = np.asarray(incidence.sum(axis=0)).ravel()
        idf = np.log(sessions / np.maximum(counts, 1)).astype(np.float32)
        return cls(incidence.astype(np.float32), idf, k=k)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            **matrix_arrays(self.incidence, "incidence"),
            "idf": self.idf,
            "k": np.int64(self.k),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> SessionNeighbours:
        return cls(matrix_from_arrays(arrays, "incidence"), arrays["idf"], k=int(arrays["k"]))

    @property
    def size(self) -> int:
        return int(self.incidence.nnz)

    def scores(self, prefixes: Prefixes) -> sparse.csr_matrix:
        similarity = (prefixes.recency @ sparse.diags(self.idf)) @ self.by_product
        nearest = rows_top(similarity.tocsr(), self.k)
        return rows_normalize(nearest @ self.incidence)


def pairs_count(
    encoded: sparse.csr_matrix, *, window: int, directed: bool, size: int
) -> sparse.csr_matrix:
    """(size, size) counts over each session's views at most `window` views apart: 1 / distance
    added to (earlier, later), and to (later, earlier) unless `directed`."""
    total = sparse.csr_matrix((size, size), dtype=np.float32)
    codes_all = encoded.indices.astype(np.int64)
    owners_all = np.repeat(np.arange(encoded.shape[0]), np.diff(encoded.indptr))
    for start in range(0, len(codes_all), COUNT_CHUNK):
        # chunks overlap by `window` views so that pairs across a chunk's edge are counted once
        end = min(len(codes_all), start + COUNT_CHUNK + window)
        codes, owners = codes_all[start:end], owners_all[start:end]
        rows, cols, values = [], [], []
        for distance in range(1, min(window, len(codes) - 1) + 1):
            paired = owners[:-distance] == owners[distance:]
            # a pair belongs to the chunk its earlier view is in
            paired[COUNT_CHUNK:] = False
            earlier, later = codes[:-distance][paired], codes[distance:][paired]
            rows.append(earlier)
            cols.append(later)
            if not directed:
                rows.append(later)
                cols.append(earlier)
            copies = 1 if directed else 2
            values.append(np.full(copies * len(earlier), 1 / distance, dtype=np.float32))
        if values:
            total = total + sparse.csr_matrix(
                (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                shape=(size, size),
                dtype=np.float32,
            )
    return total.tocsr()


class ItemToItem:
    """score(j) = sum over the viewed products i of recency(i) * P(j | i), with P(j | i) the
    share of i's counted pairs that are with j, shrunk by `prior` pseudo-pairs.

    Directed (transitions): pairs are (i, then j within `window` views). Undirected
    (co-occurrence): j either side of i.
    """

    def __init__(self, conditional: sparse.csr_matrix):
        self.conditional = conditional

    @classmethod
    def fit(
        cls, encoded: sparse.csr_matrix, *, window: int, directed: bool, prior: float
    ) -> ItemToItem:
        size = encoded.shape[1]
        counts = pairs_count(encoded, window=window, directed=directed, size=size)
        totals = np.asarray(counts.sum(axis=1)).ravel() + prior
        totals[totals == 0] = 1
        return cls((sparse.diags((1 / totals).astype(np.float32)) @ counts).tocsr())

    def arrays(self) -> dict[str, np.ndarray]:
        return matrix_arrays(self.conditional, "conditional")

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ItemToItem:
        return cls(matrix_from_arrays(arrays, "conditional"))

    @property
    def size(self) -> int:
        return int(self.conditional.nnz)

    def scores(self, prefixes: Prefixes) -> sparse.csr_matrix:
        return rows_normalize(rows_normalize(prefixes.recency) @ self.conditional)


class Repeats:
    """score(j) = the session's own recency-weighted views of j: what it may come back to.

    With `habit`, only for a session that has already come back to a product once: such a
    session repeats far more often than the others, so the blend learns a weight for each
    kind, as RepeatNet's switch does.
    """

    size = 0  # nothing learned: the session itself is the evidence

    def __init__(self, *, habit: bool = False):
        self.habit = habit

    def scores(self, prefixes: Prefixes) -> sparse.csr_matrix:
        scores = rows_normalize(prefixes.views)
        if self.habit:
            scores = sparse.csr_matrix(sparse.diags(prefixes.repeated.astype(np.float32)) @ scores)
            scores.eliminate_zeros()
        return scores

    def arrays(self) -> dict[str, np.ndarray]:
        return {"habit": np.bool_(self.habit)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Repeats:
        return cls(habit=bool(arrays.get("habit", False)))


def matrix_arrays(matrix: sparse.csr_matrix, name: str) -> dict[str, np.ndarray]:
    """A CSR matrix as plain arrays, for `np.savez`."""
    return {
        f"{name}.data": matrix.data,
        f"{name}.indices": matrix.indices,
        f"{name}.indptr": matrix.indptr,
        f"{name}.shape": np.asarray(matrix.shape, dtype=np.int64),
    }


def matrix_from_arrays(arrays: dict[str, np.ndarray], name: str) -> sparse.csr_matrix:
    return sparse.csr_matrix(
        (arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"]),
        shape=tuple(int(n) for n in arrays[f"{name}.shape"]),
    )


# Each component's class by its name in the config: what a saved component is loaded as.
COMPONENT_TYPES = {
    "neighbours": SessionNeighbours,
    "transitions": ItemToItem,
    "cooccurrence": ItemToItem,
    "repeats": Repeats,
    "repeats_habit": Repeats,
}


def components_fit(
    encoded: sparse.csr_matrix,
    config: RecommenderConfig,
    *,
    on_fitted: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The count components `config` names, fitted on the encoded training sessions;
    `on_fitted(name)` hears of each as it is fitted."""
    makers = {
        "neighbours": lambda: SessionNeighbours.fit(
            encoded[-config.neighbour_sessions :], k=config.neighbours
        ),
        "transitions": lambda: ItemToItem.fit(
            encoded,
            window=config.transitions_window,
            directed=True,
            prior=config.transitions_prior,
        ),
        "cooccurrence": lambda: ItemToItem.fit(
            encoded,
            window=config.cooccurrence_window,
            directed=False,
            prior=config.cooccurrence_prior,
        ),
        "repeats": Repeats,
        "repeats_habit": lambda: Repeats(habit=True),
    }
    fitted = {}
    for name in config.components:
        fitted[name] = makers[name]()
        if on_fitted is not None:
            on_fitted(name)
    return fitted
