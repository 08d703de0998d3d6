"""Serving recommendations from prod2vec: a visitor's session vector (what search re-ranks
with), and the shop's default recommender, which adds what shoppers viewed next to it.

The same class scores the live shop and the offline evaluation, one prefix or many at a time.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gensim.models import KeyedVectors
from scipy import sparse

NOT_RANKED = -np.inf  # the score of an item there is no evidence for: never recommended

FORMAT_VERSION = 1
VECTORS_FILE = "vectors.kv"
COOCCURRENCE_FILE = "cooccurrence.npz"
CONFIG_FILE = "config.json"
# Co-occurrence pairs are counted this many views at a time, so memory stays flat.
COUNT_CHUNK = 1 << 20


@dataclass(frozen=True)
class RecommenderConfig:
    """How a session is turned into scores. Defaults chosen on a validation split (the last
    15% of rsc15-100k's training sessions; `benchmarks/tune_recommender.py .../train_sessions.txt`
    prints the tables; HR@20 / MRR@20 in percent, default Word2Vec params; runs differ by about
    0.3). The selection criterion is HR@20 + MRR@20; within noise, the simpler setting wins.

    - half_life=1: recency is the session vector's strongest lever: plain mean 59.4 / 30.3;
      deduplicated, half-life 10 views 61.3 / 31.7, 3 views 63.1 / 33.3, 1.5 views
      63.5 / 34.7, 1 view 63.7 / 34.8, 0.5 views 63.1 / 34.7.
    - dedupe=True: neutral at half-life 1 (63.7 / 34.8 either way), it adds 0.1-0.9 HR and
      0.5-1.8 MRR at every longer half-life: on, so that a product viewed ten times in a row
      is one interest, not ten, whatever the half-life.
    - cooccurrence_weight=16, cooccurrence_half_life=1 (the session vector's), prior 50,
      window 5: the blend lifts the session vector's 63.7 / 34.8 to 68.0 / 36.0. Neighbours
      are within noise (prior 20-100, co-occurrence half-life 0.5-1, window 2-8) or trade one
      metric for the other: weight 8 gives 66.9 / 36.4, weight 32 68.5 / 35.4.
    """

    half_life: float | None = 1.0  # in views: a view this many views ago weighs half; None: mean
    dedupe: bool = True  # a SKU viewed again counts once, at its most recent view
    cooccurrence_weight: float = 16.0  # 0: embedding only
    cooccurrence_window: int = 5  # views apart that still count as viewed together
    cooccurrence_half_life: float | None = 1.0  # recency of the views that co-occurrence uses
    cooccurrence_prior: float = 50.0  # pseudo-count shrinking P(j | i) for rarely viewed i

    def __post_init__(self):
        for name in ("half_life", "cooccurrence_half_life"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number or None, not {value!r}")
        for name in ("cooccurrence_weight", "cooccurrence_prior"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0, not {value!r}")
        if not isinstance(self.cooccurrence_window, int) or self.cooccurrence_window < 1:
            raise ValueError(
                f"cooccurrence_window must be a positive integer, not {self.cooccurrence_window!r}"
            )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RecommenderConfig:
        """A config from stored values; missing keys take the defaults, unknown keys are refused."""
        from .prod2vec import dataclass_from_dict

        return dataclass_from_dict(cls, values)


class SessionRecommender:
    """Scores every product for a visitor given the SKUs they viewed, oldest first.

    score(j) = cos(session vector, v_j) + cooccurrence_weight * sum_i pi_i P(j | i), where the
    session vector is the recency-weighted mean of the viewed products' unit vectors, pi_i are
    the viewed products' recency weights (summing to 1), and P(j | i) is the share of views
    within `cooccurrence_window` of a view of i (either side, nearer views counting more) that
    were views of j, shrunk by `cooccurrence_prior`. Views of unknown SKUs are ignored, but
    still count as views for recency.
    """

    def __init__(
        self,
        vectors: KeyedVectors,
        config: RecommenderConfig,
        *,
        cooccurrence: sparse.csr_matrix | None = None,
    ):
        """`vectors` must be unit length (as `build` and `load` make them)."""
        if config.cooccurrence_weight > 0 and cooccurrence is None:
            raise ValueError("a co-occurrence blend needs the co-occurrence matrix")
        self.vectors = vectors
        self.config = config
        self.cooccurrence = cooccurrence
        self.items: list[str] = vectors.index_to_key
        self.index: dict[str, int] = vectors.key_to_index

    @classmethod
    def build(
        cls,
        vectors: KeyedVectors,
        sessions: Iterable[Sequence[str]],
        config: RecommenderConfig,
    ) -> SessionRecommender:
        """From trained vectors and, when the config blends, co-occurrence counted over
        `sessions` (the training sessions, read once)."""
        raw = np.asarray(vectors.vectors, dtype=np.float32)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        unit = KeyedVectors(vector_size=vectors.vector_size, dtype=np.float32)
        unit.add_vectors(list(vectors.index_to_key), raw / np.where(norms > 0, norms, 1))
        cooccurrence = None
        if config.cooccurrence_weight > 0:
            counts = cooccurrence_count(
                sessions, unit.key_to_index, window=config.cooccurrence_window
            )
            totals = np.asarray(counts.sum(axis=1)).ravel() + config.cooccurrence_prior
            totals[totals == 0] = 1
            cooccurrence = (sparse.diags(1 / totals) @ counts).astype(np.float32).tocsr()
        return cls(unit, config, cooccurrence=cooccurrence)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # sep_limit=0: the array goes to its own .npy file, so load() can memory-map it
        self.vectors.save(str(directory / VECTORS_FILE), sep_limit=0)
        if self.cooccurrence is not None:
            sparse.save_npz(directory / COOCCURRENCE_FILE, self.cooccurrence, compressed=False)
        stored = {"format": FORMAT_VERSION, "config": self.config.as_dict()}
        (directory / CONFIG_FILE).write_text(json.dumps(stored, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> SessionRecommender:
        directory = Path(directory)
        stored = json.loads((directory / CONFIG_FILE).read_text())
        if stored.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"{directory / CONFIG_FILE}: format {stored.get('format')!r}, "
                f"expected {FORMAT_VERSION}"
            )
        config = RecommenderConfig.from_dict(stored["config"])
        vectors = KeyedVectors.load(str(directory / VECTORS_FILE), mmap="r")
        cooccurrence = None
        if (directory / COOCCURRENCE_FILE).exists():
            cooccurrence = sparse.load_npz(directory / COOCCURRENCE_FILE).tocsr()
        return cls(vectors, config, cooccurrence=cooccurrence)

    def session_vector(self, skus: Sequence[str]) -> np.ndarray | None:
        """The unit-length float32 session vector, or None when no viewed SKU has a vector."""
        vectors, known = self.session_vectors([skus])
        return vectors[0] if known[0] else None

    def session_weights(self, skus: Sequence[str]) -> dict[str, float]:
        """Each known viewed SKU's weight in the session vector (recency, repeats as configured),
        for telling which viewed product contributed most to a similarity. The same weights as
        `_weights`, without a sparse matrix for one short session."""
        weights: dict[str, float] = {}
        half_life = self.config.half_life
        for age, sku in enumerate(reversed(skus)):
            if sku not in self.index or (self.config.dedupe and sku in weights):
                continue
            weight = 1.0 if half_life is None else 2.0 ** (-age / half_life)
            weights[sku] = weights.get(sku, 0.0) + weight
        return weights

    def session_vectors(self, prefixes: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, known): one unit-length row per prefix (zero where `known` is False)."""
        return self._session_vectors(self._weights(prefixes, self.config.half_life))

    def scores(self, skus: Sequence[str]) -> np.ndarray:
        """A score for each of `items` (NOT_RANKED for all when no viewed SKU is known)."""
        return self.scores_batch([skus])[0]

    def scores_batch(self, prefixes: Sequence[Sequence[str]]) -> np.ndarray:
        """`scores` of many sessions at once: shape (len(prefixes), len(items)), float32."""
        weights = self._weights(prefixes, self.config.half_life)
        vectors, known = self._session_vectors(weights)
        table = np.asarray(vectors @ self.vectors.vectors.T)
        if self.config.cooccurrence_weight > 0:
            if self.config.cooccurrence_half_life != self.config.half_life:
                weights = self._weights(prefixes, self.config.cooccurrence_half_life)
            totals = np.asarray(weights.sum(axis=1)).ravel()
            blend = (weights @ self.cooccurrence).toarray()
            blend *= (self.config.cooccurrence_weight / np.where(totals > 0, totals, 1))[:, None]
            table += blend
        table[~known] = NOT_RANKED
        return table

    def recommend(
        self, skus: Sequence[str], *, k: int = 20, exclude: Iterable[str] = ()
    ) -> list[tuple[str, float]]:
        """The k best (sku, score) for a visitor who viewed `skus`, best first."""
        scores = self.scores(skus)
        for sku in exclude:
            code = self.index.get(sku)
            if code is not None:
                scores[code] = NOT_RANKED
        return self._top(scores, k)

    def similar(self, sku: str, *, k: int = 10) -> list[tuple[str, float]]:
        """The k products whose vectors are nearest to `sku`'s (cosine), itself left out."""
        code = self.index.get(sku)
        if code is None:
            return []
        scores = np.asarray(self.vectors.vectors @ self.vectors.vectors[code])
        scores[code] = NOT_RANKED
        return self._top(scores, k)

    def _session_vectors(self, weights: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        summed = np.asarray(weights @ self.vectors.vectors, dtype=np.float32)
        norms = np.linalg.norm(summed, axis=1)
        known = norms > 0
        summed[known] /= norms[known, None]
        return summed, known

    def _top(self, scores: np.ndarray, k: int) -> list[tuple[str, float]]:
        k = min(k, len(scores))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.items[i], float(scores[i])) for i in top if scores[i] > NOT_RANKED]

    def _weights(
        self, prefixes: Sequence[Sequence[str]], half_life: float | None
    ) -> sparse.csr_matrix:
        # One row per prefix: each known SKU's recency weight (summed over its views, or its
        # latest view's alone when deduplicating). Age is counted in views, the latest is 0.
        rows: list[int] = []
        codes: list[int] = []
        ages: list[int] = []
        for row, skus in enumerate(prefixes):
            seen: set[int] = set()
            for age, sku in enumerate(reversed(skus)):
                code = self.index.get(sku)
                if code is None or (self.config.dedupe and code in seen):
                    continue
                seen.add(code)
                rows.append(row)
                codes.append(code)
                ages.append(age)
        if half_life is None:
            values = np.ones(len(ages), dtype=np.float32)
        else:
            values = np.exp2(-np.asarray(ages, dtype=np.float32) / half_life)
        return sparse.csr_matrix(
            (values, (rows, codes)), shape=(len(prefixes), len(self.items)), dtype=np.float32
        )


def cooccurrence_count(
    sessions: Iterable[Sequence[str]], index: dict[str, int], *, window: int
) -> sparse.csr_matrix:
    """Square matrix over `index`: for each two views at most `window` views apart in a
    session, 1 / distance added to (earlier, later) and to (later, earlier). A product viewed
    again counts on the diagonal. One pass over `sessions`, in chunks."""
    size = len(index)
    total = sparse.csr_matrix((size, size), dtype=np.float32)
    codes: list[int] = []
    owners: list[int] = []
    for number, skus in enumerate(sessions):
        codes.extend(index.get(sku, -1) for sku in skus)
        owners.extend([number] * len(skus))
        if len(codes) >= COUNT_CHUNK:
            total = total + _pairs_count(codes, owners, size, window)
            codes, owners = [], []
    if codes:
        total = total + _pairs_count(codes, owners, size, window)
    return total.tocsr()


def _pairs_count(
    codes_list: list[int], owners_list: list[int], size: int, window: int
) -> sparse.csr_matrix:
    codes = np.asarray(codes_list, dtype=np.int64)
    owners = np.asarray(owners_list, dtype=np.int64)
    rows, cols, values = [], [], []
    for distance in range(1, min(window, len(codes) - 1) + 1):
        earlier, later = codes[:-distance], codes[distance:]
        paired = (owners[:-distance] == owners[distance:]) & (earlier >= 0) & (later >= 0)
        earlier, later = earlier[paired], later[paired]
        rows += [earlier, later]
        cols += [later, earlier]
        values.append(np.full(2 * len(earlier), 1 / distance, dtype=np.float32))
    if not values:
        return sparse.csr_matrix((size, size), dtype=np.float32)
    return sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=(size, size),
        dtype=np.float32,
    )
