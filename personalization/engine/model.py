"""The shop's recommender, fitted: a blend of the count components (session neighbours,
transitions, co-occurrence, repeats) and of the prod2vec session vector (what search re-ranks
with). `learning.py` builds one from sessions, `persistence.py` stores it.

The same class scores the live shop and the offline evaluation, one prefix or many at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from gensim.models import KeyedVectors
from scipy import sparse

from .blend import DENSE_CELLS, dense_ranks, sparse_ranks, true_scores
from .components import Prefixes, prefixes_encode
from .config import FALLBACK_OFFSET, LINEAR_BLEND, SESSION_VECTOR, RecommenderConfig
from .ranking import Ranker, group_places, ranked_ranks

NOT_RANKED = -np.inf  # the score of an item there is no evidence for: never recommended


class SessionRecommender:
    """Scores every product for a visitor given the SKUs they viewed, oldest first.

    score(j) = sum over the components c of weight_c * score_c(j), each component's scores
    summing to 1 over the products (see `components.py`), + weight_v * (1 + cos(session vector,
    v_j)). The session vector is the recency-weighted mean of the viewed products' unit vectors.
    Where weight_v is 0, the products no component has evidence for come after the others,
    ranked by the cosine with `fallback` (NOT_RANKED without). Views of unknown SKUs are
    ignored, but still count as views for recency.
    """

    def __init__(
        self,
        vectors: KeyedVectors,
        config: RecommenderConfig,
        *,
        components: dict[str, Any] | None = None,
        weights: dict[str, float] | None = None,
        learning: dict[str, Any] | None = None,
        ranker: Ranker | None = None,
    ):
        """`vectors` must be unit length (as `recommender_build` and `recommender_load` make
        them); `components` the fitted components named by `config.components`, blended with
        `weights`; `learning` records how the weights were learned; `ranker`, if given,
        re-orders the components' candidates (see `ranking.py`)."""
        components = components or {}
        missing = [name for name in config.components if name not in components]
        if missing:
            raise ValueError(f"the config blends {', '.join(missing)}, which were not fitted")
        self.vectors = vectors
        self.config = config
        self.components = {name: components[name] for name in config.components}
        self.weights = dict(weights or blend_weights_equal(config.components))
        self.learning = learning or {}
        self.ranker = ranker if self.components else None
        self.items: list[str] = vectors.index_to_key
        self.index: dict[str, int] = vectors.key_to_index

    def session_vector(self, skus: Sequence[str]) -> np.ndarray | None:
        """The unit-length float32 session vector, or None when no viewed SKU has a vector."""
        vectors, known = self.session_vectors([skus])
        return vectors[0] if known[0] else None

    def session_vectors(self, prefixes: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, known): one unit-length row per prefix (zero where `known` is False)."""
        return self.session_vectors_encoded(self.encode(prefixes))

    def components_scores(self, prefixes: Sequence[Sequence[str]]) -> dict[str, sparse.spmatrix]:
        """Each count component's own scores of `prefixes`, unweighted, by name in the config's
        order: a sparse (len(prefixes), len(items)) matrix per component, each row a
        distribution over the products (all zero where the component has no evidence)."""
        return self.components_scores_encoded(self.encode(prefixes))

    def components_scores_encoded(self, encoded: Prefixes) -> dict[str, sparse.spmatrix]:
        return {name: component.scores(encoded) for name, component in self.components.items()}

    def encode(self, prefixes: Sequence[Sequence[str]]) -> Prefixes:
        """The prefixes as the components read them, weighted by recency."""
        return prefixes_encode(prefixes, self.index, half_life=self.config.half_life)

    def scores_blend(self, prefixes: Sequence[Sequence[str]], targets: np.ndarray) -> np.ndarray:
        """The linear blend's score (as `scores_batch` gives it without a ranker) of each
        prefix's product `targets[i]`."""
        encoded = self.encode(prefixes)
        blend = self._components_blend(encoded)
        vectors, known = self.session_vectors_encoded(encoded)
        cosines = np.einsum("ij,ij->i", vectors, self.vectors.vectors[targets]).astype(np.float32)
        cosines[~known] = NOT_RANKED
        if blend is None:
            return cosines
        true, stored = true_scores(blend, targets)
        if self.vector_weight:
            return np.where(known, true + self._vector_part(cosines), true).astype(np.float32)
        return np.where(stored, FALLBACK_OFFSET + true, cosines).astype(np.float32)

    def vector_scores(self, prefixes: Sequence[Sequence[str]]) -> np.ndarray:
        """The session vector's part of the blend at weight 1: 1 + cos(session vector, v_j) for
        each prefix and product, float32 in 0..2; a row of zeros for a prefix with no known
        SKU."""
        vectors, known = self.session_vectors(prefixes)
        table = vectors @ self.vectors.vectors.T
        table += np.float32(1)
        table[~known] = 0
        return table

    def scores(self, skus: Sequence[str]) -> np.ndarray:
        """A score for each of `items` (NOT_RANKED for all when no viewed SKU is known)."""
        return self.scores_batch([skus])[0]

    def scores_batch(self, prefixes: Sequence[Sequence[str]]) -> np.ndarray | sparse.csr_matrix:
        """`scores` of many sessions at once: shape (len(prefixes), len(items)), float32.

        With a ranker, its candidates first in its order, then the rest in the blend's.
        Without the session vector in the blend, a sparse matrix whose stored entries are the
        products with evidence (every other one is NOT_RANKED)."""
        encoded = self.encode(prefixes)
        # the ranker reads every component's scores; the blend alone, the weighted ones
        scores = self.components_scores_encoded(encoded) if self.ranker is not None else None
        table = self._blend_scores_batch(encoded, scores)
        if self.ranker is None or not len(prefixes):
            return table
        table = _dense(table)
        batch = self.ranker.describe(self, prefixes, encoded=encoded, scores=scores)
        place = group_places(self.ranker.order(batch), batch.owner, batch.counts)
        base = np.maximum(table.max(axis=1), 0) + 1  # above every blended score
        table[batch.owner, batch.columns] = base[batch.owner] + batch.counts[batch.owner] - place
        return table

    def _blend_scores_batch(
        self, encoded: Prefixes, scores: dict[str, sparse.spmatrix] | None
    ) -> np.ndarray | sparse.csr_matrix:
        blend = self._components_blend(encoded, scores)
        if blend is not None and not self.config.fallback and not self.vector_weight:
            return blend
        vectors, known = self.session_vectors_encoded(encoded)
        table = np.asarray(vectors @ self.vectors.vectors.T)
        if blend is not None:
            rows = np.repeat(np.arange(blend.shape[0]), np.diff(blend.indptr))
            if self.vector_weight:
                table = self._vector_part(table)
                table[rows, blend.indices] += blend.data
            else:
                # evidence first: a cosine is at most 1, so 2 + a blended score ranks above it
                table[rows, blend.indices] = FALLBACK_OFFSET + blend.data
        table[~known] = NOT_RANKED
        return table

    @property
    def vector_weight(self) -> float:
        """The session vector's weight in the blend (0: it only ranks what has no evidence)."""
        return float(self.weights.get(SESSION_VECTOR, 0.0)) if self.components else 0.0

    def _vector_part(self, cosines: np.ndarray) -> np.ndarray:
        """weight_v * (1 + cos), in place: the session vector's part of the blend."""
        cosines += np.float32(1)
        cosines *= np.float32(self.vector_weight)
        return cosines

    def components_sizes(self) -> dict[str, int]:
        """The entries each count component stores: pairs of products for transitions and
        co-occurrence, (session, product) pairs for neighbours."""
        return {name: component.size for name, component in self.components.items()}

    @property
    def batch_rows(self) -> int | None:
        """Prefixes to evaluate at once: many when scores are sparse (see `ranks_batch`)."""
        return 1000 if self.components else None

    def ranks_batch(self, prefixes: Sequence[Sequence[str]], targets: np.ndarray, k: int):
        """Each true item's rank (0: a miss or beyond k), as `scores_batch` would rank it,
        without scoring every product by cosine where it can (see `_ranks_with_cosines`)."""
        encoded = self.encode(prefixes)
        blend = self._components_blend(encoded)
        if blend is None:
            return dense_ranks(self._cosines(encoded), targets, k)
        if self.ranker is not None:
            return ranked_ranks(self.ranker, self, prefixes, targets, k)
        return self._ranks_with_cosines(encoded, blend, targets, k)[0]

    def ranks_parts(
        self, prefixes: Sequence[Sequence[str]], targets: np.ndarray, k: int
    ) -> dict[str, np.ndarray]:
        """The ranks of `ranks_batch` for the recommender ("default") and for each of its parts
        alone: every count component (by name, without the fallback) and the session vector
        (SESSION_VECTOR). Each part is scored once for all of them: what the evaluation
        compares."""
        encoded = self.encode(prefixes)
        scores = {name: component.scores(encoded) for name, component in self.components.items()}
        ranks: dict[str, np.ndarray] = {}
        for name, matrix in scores.items():
            matrix = sparse.csr_matrix(matrix, dtype=np.float32)
            matrix.eliminate_zeros()  # a stored entry is evidence
            ranks[name] = sparse_ranks(matrix, targets, k)
        blend = self._components_blend(encoded, scores)
        if blend is None:
            ranks[SESSION_VECTOR] = ranks["default"] = dense_ranks(
                self._cosines(encoded), targets, k
            )
            return ranks
        ranks["default"], ranks[SESSION_VECTOR] = self._ranks_with_cosines(
            encoded, blend, targets, k, vector_alone=True
        )
        ranks[LINEAR_BLEND] = ranks["default"]
        if self.ranker is not None:
            del blend  # the ranking's candidates would add to it: the batch's peak
            ranks["default"] = ranked_ranks(
                self.ranker, self, prefixes, targets, k, encoded=encoded, scores=scores
            )
        return ranks

    def blend_ranks(self, prefixes: Sequence[Sequence[str]], targets: np.ndarray) -> np.ndarray:
        """The linear blend's rank of each true item however far down (0: never ranked)."""
        encoded = self.encode(prefixes)
        blend = self._components_blend(encoded)
        if blend is None:
            return dense_ranks(self._cosines(encoded), targets, len(self.items))
        return self._ranks_with_cosines(encoded, blend, targets, len(self.items))[0]

    def _ranks_with_cosines(
        self,
        encoded: Prefixes,
        blend: sparse.csr_matrix,
        targets: np.ndarray,
        k: int,
        *,
        vector_alone: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(the blend's ranks, the session vector's alone if `vector_alone`), the cosines
        computed a few rows at a time (DENSE_CELLS) and only for the rows that need them.

        With the session vector in the blend, only the products with evidence get more than
        weight_v * (1 + cos), which is at most 2 * weight_v: a row where k of them already score
        more than the true item can is a miss without its cosines. As a fallback, a true item
        with evidence is ranked among the products with evidence alone; one without needs the
        cosines only if fewer than k products have evidence."""
        weight = np.float32(self.vector_weight)
        true_blend, has_evidence = true_scores(blend, targets)
        owners = np.repeat(np.arange(blend.shape[0]), np.diff(blend.indptr))
        vectors, known = self.session_vectors_encoded(encoded)
        if weight:
            beyond_reach = blend.data > (2 * weight + true_blend)[owners]
            surely_higher = np.bincount(owners, beyond_reach, blend.shape[0])
            ranks = np.zeros(len(targets), dtype=np.int64)
            needed = known & (surely_higher < k)
        else:
            ranks = sparse_ranks(blend, targets, k)
            if not self.config.fallback:
                needed = np.zeros(len(targets), dtype=bool)
            else:
                needed = known & ~has_evidence & (np.diff(blend.indptr) < k)
        alone = np.zeros(len(targets), dtype=np.int64) if vector_alone else None
        rows_all = np.arange(len(targets)) if vector_alone else np.flatnonzero(needed)
        step = max(1, DENSE_CELLS // max(1, len(self.items)))
        for start in range(0, len(rows_all), step):
            rows = rows_all[start : start + step]
            cosines = vectors[rows] @ self.vectors.vectors.T
            if vector_alone:
                cosines[~known[rows]] = NOT_RANKED
                alone[rows] = dense_ranks(cosines, targets[rows], k)
            rows_needed = needed[rows]
            if not rows_needed.any():
                continue
            rows, cosines = rows[rows_needed], cosines[rows_needed]
            part = blend[rows]
            part_owners = np.repeat(np.arange(len(rows)), np.diff(part.indptr))
            if weight:
                ranks[rows] = self._chunk_blend_ranks(
                    cosines, part, part_owners, targets[rows], true_blend[rows], k
                )
            else:
                cosines[part_owners, part.indices] = np.inf  # evidence: counted apart
                # the products with evidence (at infinity) count among those above the true one
                ranks[rows] = dense_ranks(cosines, targets[rows], k)
        return ranks, alone

    def _chunk_blend_ranks(self, cosines, part, part_owners, targets, true_blend, k):
        plain = self._vector_part(cosines)
        true = plain[np.arange(len(targets)), targets] + true_blend
        higher = np.count_nonzero(plain > true[:, None], axis=1)
        # the products with evidence: their blended score counts, not their plain one
        plain_part = plain[part_owners, part.indices]
        above = true[part_owners]
        higher -= np.bincount(part_owners, plain_part > above, len(targets)).astype(np.int64)
        higher += np.bincount(part_owners, plain_part + part.data > above, len(targets)).astype(
            np.int64
        )
        return np.where(higher < k, higher + 1, 0)

    def _cosines(self, encoded: Prefixes) -> np.ndarray:
        vectors, known = self.session_vectors_encoded(encoded)
        table = np.asarray(vectors @ self.vectors.vectors.T)
        table[~known] = NOT_RANKED
        return table

    def _components_blend(
        self, encoded: Prefixes, scores: dict[str, sparse.spmatrix] | None = None
    ) -> sparse.csr_matrix | None:
        """The weighted sum of the count components' scores (None without components), from
        `scores` (each component's, by name) when already computed."""
        blend = None
        for name, component in self.components.items():
            weight = self.weights.get(name, 0.0)
            if weight > 0:
                part = scores[name] if scores is not None else component.scores(encoded)
                part = part * np.float32(weight)
                blend = part if blend is None else blend + part
        if blend is None and self.components:
            blend = sparse.csr_matrix(encoded.recency.shape, dtype=np.float32)
        if blend is None:
            return None
        blend = sparse.csr_matrix(blend)
        blend.eliminate_zeros()  # a stored entry is evidence
        return blend

    def recommend(
        self, skus: Sequence[str], *, k: int = 20, exclude: Iterable[str] = ()
    ) -> list[tuple[str, float]]:
        """The k best (sku, score) for a visitor who viewed `skus`, best first."""
        scores = _dense(self.scores_batch([skus]))[0]
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

    def session_vectors_encoded(self, encoded: Prefixes) -> tuple[np.ndarray, np.ndarray]:
        """`session_vectors` of prefixes already encoded."""
        weights = encoded.recency if self.config.dedupe else encoded.views
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


def _dense(table: np.ndarray | sparse.csr_matrix) -> np.ndarray:
    """A score table as a dense array: a sparse one's missing entries are NOT_RANKED."""
    if not sparse.issparse(table):
        return table
    dense = np.full(table.shape, NOT_RANKED, dtype=np.float32)
    rows = np.repeat(np.arange(table.shape[0]), np.diff(table.indptr))
    dense[rows, table.indices] = table.data
    return dense


def blend_weights_equal(components: Sequence[str]) -> dict[str, float]:
    return {name: 1 / len(components) for name in components}
