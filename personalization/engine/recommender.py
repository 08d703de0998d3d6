"""The shop's recommender: a blend of the count components (session neighbours, transitions,
co-occurrence, repeats) with weights learned on the most recent training sessions, and the
prod2vec session vector (what search re-ranks with), which ranks what they have no evidence for.

The same class scores the live shop and the offline evaluation, one prefix or many at a time.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from gensim.models import KeyedVectors
from scipy import sparse

from .blend import blend_learn, candidates_gather, dense_ranks, sparse_ranks, true_scores
from .components import (
    ItemToItem,
    Prefixes,
    Repeats,
    SessionNeighbours,
    prefixes_encode,
    sessions_encode,
)

T = TypeVar("T")

NOT_RANKED = -np.inf  # the score of an item there is no evidence for: never recommended

FORMAT_VERSION = 2
VECTORS_FILE = "vectors.kv"
COMPONENTS_FILE = "components.npz"
CONFIG_FILE = "config.json"
# The count components the recommender can blend (see `components.py`), in a fixed order.
COMPONENTS = ("neighbours", "transitions", "cooccurrence", "repeats", "repeats_habit")
# Blend weights are learned on at most this many next-view predictions of the validation
# sessions (the most recent ones): enough to tell weights apart, a few seconds to gather.
VALIDATION_PREDICTIONS = 20_000
FALLBACK_OFFSET = 2.0  # added to blended scores so that they rank above every cosine


@dataclass(frozen=True)
class RecommenderConfig:
    """How a session is turned into scores. Defaults chosen on the validation splits of both
    shared data sets (rsc15-100k and nowplaying): `benchmarks/tune_recommender.py` prints the
    tables that chose each.

    The recommender blends the count components named in `components`, with weights learned at
    each build on the most recent `validation_share` of the training sessions. With `fallback`,
    the session vector ranks the products none of them has evidence for, after those that
    have. With no component, it is the session vector alone.

    From `tune_recommender.py ../shared/data/rsc15-100k ../shared/data/nowplaying` (HR@20 /
    MRR@20 on rsc15-100k | nowplaying, and the sum): the defaults 69.08 / 36.72 | 22.24 / 9.06
    (137.10); the best component alone, neighbours, 68.23 / 36.43 | 22.29 / 7.72 (134.67).
    - learn_weights: equal weights instead give 134.59 (nowplaying's MRR 7.65).
    - half_life=1: 0.5 gives 136.94 (nowplaying's HR 21.42), 2 gives 135.90, a plain mean 129.57.
    - fallback: without, 136.64.
    - repeats_habit: without, nowplaying's MRR falls to 8.53 (136.57).
    - Every other setting (neighbours 50-500, transitions window 1-5 and prior 3-30,
      co-occurrence window 3-8 and prior 10-100, validation share 0.1-0.25, each other component
      left out) lands between 136.24 and 137.76: within the spread of the learned weights
      themselves, which land in different places for near-equal validation scores (nowplaying's
      MRR moves by 0.5 between settings that change nothing it uses).
    """

    half_life: float | None = 1.0  # in views: a view this many views ago weighs half; None: mean
    dedupe: bool = True  # the session vector counts a SKU viewed again once, at its latest view
    components: tuple[str, ...] = COMPONENTS
    fallback: bool = True
    neighbours: int = 100  # V-SKNN's k: the most similar training sessions used
    transitions_window: int = 3  # views later that still count as "viewed next"
    transitions_prior: float = 10.0  # pseudo-count shrinking P(next j | i) for rarely viewed i
    cooccurrence_window: int = 5  # views apart (either side) that still count as viewed together
    cooccurrence_prior: float = 50.0
    validation_share: float = 0.15  # the most recent training sessions that learn the weights
    learn_weights: bool = True  # False: every component weighs the same

    def __post_init__(self):
        if self.half_life is not None and not (
            math.isfinite(self.half_life) and self.half_life > 0
        ):
            raise ValueError(f"half_life must be a positive number or None, not {self.half_life!r}")
        object.__setattr__(self, "components", tuple(self.components))
        unknown = [name for name in self.components if name not in COMPONENTS]
        if unknown:
            raise ValueError(
                f"unknown component(s) {', '.join(unknown)} (known: {', '.join(COMPONENTS)})"
            )
        for name in ("transitions_prior", "cooccurrence_prior"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0, not {value!r}")
        for name in ("neighbours", "transitions_window", "cooccurrence_window"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if not 0 < self.validation_share < 1:
            raise ValueError(
                f"validation_share must be between 0 and 1, not {self.validation_share!r}"
            )

    def as_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["components"] = list(self.components)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RecommenderConfig:
        """A config from stored values; missing keys take the defaults, unknown keys are refused."""
        from .prod2vec import dataclass_from_dict

        return dataclass_from_dict(cls, values)


class SessionRecommender:
    """Scores every product for a visitor given the SKUs they viewed, oldest first.

    score(j) = sum over the components c of weight_c * score_c(j), each component's scores
    summing to 1 over the products (see `components.py`). The products no component has
    evidence for come after the others, ranked by cos(session vector, v_j) with `fallback`
    (NOT_RANKED without). The session vector is the recency-weighted mean of the viewed
    products' unit vectors. Views of unknown SKUs are ignored, but still count as views for
    recency.
    """

    def __init__(
        self,
        vectors: KeyedVectors,
        config: RecommenderConfig,
        *,
        components: dict[str, Any] | None = None,
        weights: dict[str, float] | None = None,
        learning: dict[str, Any] | None = None,
    ):
        """`vectors` must be unit length (as `build` and `load` make them); `components` the
        fitted components named by `config.components`, blended with `weights`; `learning`
        records how the weights were learned."""
        components = components or {}
        missing = [name for name in config.components if name not in components]
        if missing:
            raise ValueError(f"the config blends {', '.join(missing)}, which were not fitted")
        self.vectors = vectors
        self.config = config
        self.components = {name: components[name] for name in config.components}
        self.weights = dict(weights or blend_weights_equal(config.components))
        self.learning = learning or {}
        self.items: list[str] = vectors.index_to_key
        self.index: dict[str, int] = vectors.key_to_index

    @classmethod
    def build(
        cls,
        vectors: KeyedVectors,
        sessions: Sequence[Sequence[str]],
        config: RecommenderConfig,
        *,
        on_phase: Callable[[str], None] | None = None,
    ) -> SessionRecommender:
        """From trained vectors and the training sessions (oldest first): the components fitted
        on the sessions before the most recent `validation_share`, their blend weights learned
        on those, then the components fitted again on every session. `on_phase(name)` hears of
        each step."""
        raw = np.asarray(vectors.vectors, dtype=np.float32)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        unit = KeyedVectors(vector_size=vectors.vector_size, dtype=np.float32)
        unit.add_vectors(list(vectors.index_to_key), raw / np.where(norms > 0, norms, 1))
        if not config.components:
            return cls(unit, config)
        phase = on_phase or (lambda name: None)
        encoded = sessions_encode(sessions, unit.key_to_index)
        weights, learning = blend_weights_equal(config.components), {}
        if len(config.components) > 1 and config.learn_weights:
            phase("learning the blend")
            weights, learning = blend_weights_learn(unit, sessions, encoded, config)
        phase("counting")
        components = components_fit(encoded, config)
        return cls(unit, config, components=components, weights=weights, learning=learning)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # sep_limit=0: the array goes to its own .npy file, so load() can memory-map it
        self.vectors.save(str(directory / VECTORS_FILE), sep_limit=0)
        if self.components:
            arrays = {}
            for name, component in self.components.items():
                arrays.update({f"{name}.{key}": value for key, value in component.arrays().items()})
            np.savez(directory / COMPONENTS_FILE, **arrays)
        stored = {
            "format": FORMAT_VERSION,
            "config": self.config.as_dict(),
            "weights": self.weights,
            "learning": self.learning,
        }
        (directory / CONFIG_FILE).write_text(json.dumps(stored, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> SessionRecommender:
        directory = Path(directory)
        stored = json.loads((directory / CONFIG_FILE).read_text())
        if stored.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"{directory / CONFIG_FILE}: format {stored.get('format')!r}, "
                f"expected {FORMAT_VERSION} (a version trained before this release: retrain)"
            )
        config = RecommenderConfig.from_dict(stored["config"])
        vectors = KeyedVectors.load(str(directory / VECTORS_FILE), mmap="r")
        components = {}
        if config.components:
            with np.load(directory / COMPONENTS_FILE) as stored_arrays:
                for name in config.components:
                    prefix = f"{name}."
                    arrays = {
                        key[len(prefix) :]: stored_arrays[key]
                        for key in stored_arrays.files
                        if key.startswith(prefix)
                    }
                    components[name] = COMPONENT_TYPES[name].from_arrays(arrays)
        return cls(
            vectors,
            config,
            components=components,
            weights=stored.get("weights"),
            learning=stored.get("learning"),
        )

    def session_vector(self, skus: Sequence[str]) -> np.ndarray | None:
        """The unit-length float32 session vector, or None when no viewed SKU has a vector."""
        vectors, known = self.session_vectors([skus])
        return vectors[0] if known[0] else None

    def session_weights(self, skus: Sequence[str]) -> dict[str, float]:
        """Each known viewed SKU's weight in the session vector (recency, repeats as configured),
        for telling which viewed product contributed most to a similarity. The same weights as
        `session_vectors` uses, without a sparse matrix for one short session."""
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
        return self._session_vectors(self._encode(prefixes))

    def scores(self, skus: Sequence[str]) -> np.ndarray:
        """A score for each of `items` (NOT_RANKED for all when no viewed SKU is known)."""
        return self.scores_batch([skus])[0]

    def scores_batch(self, prefixes: Sequence[Sequence[str]]) -> np.ndarray | sparse.csr_matrix:
        """`scores` of many sessions at once: shape (len(prefixes), len(items)), float32.

        Without the session vector in the blend, a sparse matrix whose stored entries are the
        products with evidence (every other one is NOT_RANKED)."""
        encoded = self._encode(prefixes)
        blend = self.components_scores(encoded)
        if blend is not None and not self.config.fallback:
            return blend
        vectors, known = self._session_vectors(encoded)
        table = np.asarray(vectors @ self.vectors.vectors.T)
        table[~known] = NOT_RANKED
        if blend is not None:
            # evidence first: a cosine is at most 1, so 2 + a blended score ranks above it
            rows = np.repeat(np.arange(blend.shape[0]), np.diff(blend.indptr))
            table[rows, blend.indices] = FALLBACK_OFFSET + blend.data
        return table

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
        without scoring every product by cosine: a true item with evidence is ranked among the
        products with evidence alone; one without needs the cosines only if fewer than k
        products have evidence."""
        encoded = self._encode(prefixes)
        blend = self.components_scores(encoded)
        if blend is None:
            return dense_ranks(self._cosines(encoded), targets, k)
        ranks = sparse_ranks(blend, targets, k)
        if not self.config.fallback:
            return ranks
        evidence = np.diff(blend.indptr)
        _, has_evidence = true_scores(blend, targets)
        needed = np.flatnonzero(~has_evidence & (evidence < k))
        if len(needed):
            cosines = self._cosines(encoded, rows=needed)
            blend_needed = blend[needed]
            owners = np.repeat(np.arange(len(needed)), np.diff(blend_needed.indptr))
            cosines[owners, blend_needed.indices] = np.inf  # evidence: counted apart
            # the products with evidence (at infinity) count among those above the true one
            ranks[needed] = dense_ranks(cosines, targets[needed], k)
        return ranks

    def _cosines(self, encoded: Prefixes, rows: np.ndarray | None = None) -> np.ndarray:
        vectors, known = self._session_vectors(encoded)
        if rows is not None:
            vectors, known = vectors[rows], known[rows]
        table = np.asarray(vectors @ self.vectors.vectors.T)
        table[~known] = NOT_RANKED
        return table

    def components_scores(self, encoded: Prefixes) -> sparse.csr_matrix | None:
        """The weighted sum of the count components' scores (None without components)."""
        blend = None
        for name, component in self.components.items():
            weight = self.weights.get(name, 0.0)
            if weight > 0:
                part = component.scores(encoded) * np.float32(weight)
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
        scores = self.scores(skus)
        if sparse.issparse(scores):
            dense = np.full(scores.shape[1], NOT_RANKED, dtype=np.float32)
            dense[scores.indices] = scores.data
            scores = dense
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

    def _encode(self, prefixes: Sequence[Sequence[str]]) -> Prefixes:
        return prefixes_encode(prefixes, self.index, half_life=self.config.half_life)

    def _session_vectors(self, encoded: Prefixes) -> tuple[np.ndarray, np.ndarray]:
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


COMPONENT_TYPES = {
    "neighbours": SessionNeighbours,
    "transitions": ItemToItem,
    "cooccurrence": ItemToItem,
    "repeats": Repeats,
    "repeats_habit": Repeats,
}


def components_fit(encoded: sparse.csr_matrix, config: RecommenderConfig) -> dict[str, Any]:
    """The count components `config` names, fitted on the encoded training sessions."""
    makers = {
        "neighbours": lambda: SessionNeighbours.fit(encoded, k=config.neighbours),
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
    return {name: makers[name]() for name in config.components}


def blend_weights_equal(components: Sequence[str]) -> dict[str, float]:
    return {name: 1 / len(components) for name in components}


def blend_weights_learn(
    vectors: KeyedVectors,
    sessions: Sequence[Sequence[str]],
    encoded: sparse.csr_matrix,
    config: RecommenderConfig,
) -> tuple[dict[str, float], dict[str, Any]]:
    """The components' weights (summing to 1) that maximise HR@20 + MRR@20 on the most recent
    `validation_share` of `sessions`, the components fitted on the sessions before them (rows
    of `encoded`, the sessions as `sessions_encode` gives them). Returns (weights, what the
    learning saw)."""
    train, validation = sessions_holdout_split(sessions, holdout_share=config.validation_share)
    validation = validation_recent(validation, VALIDATION_PREDICTIONS)
    names = list(config.components)
    start = [1.0] * len(names)
    if not validation or not train:
        return blend_weights_equal(names), {"validation_predictions": 0}
    fitted = SessionRecommender(
        vectors,
        config,
        components=components_fit(encoded[: len(train)], config),
        weights=blend_weights_equal(names),
    )

    def score(prefixes):
        encoded = fitted._encode(prefixes)
        return [fitted.components[name].scores(encoded) for name in names]

    # The session vector is left out: its vectors were trained on the validation sessions too,
    # and would look better there than on sessions to come (weights learned with it in the
    # blend lost 3 HR on rsc15-100k's validation split).
    candidates = candidates_gather(score, validation, fitted.index)
    learned, (hr, mrr) = blend_learn(candidates, start)
    weights = {name: round(value, 4) for name, value in zip(names, learned, strict=True)}
    learning = {
        "validation_sessions": len(validation),
        "validation_predictions": candidates.predictions,
        "hr": round(100 * hr, 2),
        "mrr": round(100 * mrr, 2),
    }
    return weights, learning


def sessions_holdout_split(
    sessions: Sequence[T], *, holdout_share: float
) -> tuple[list[T], list[T]]:
    """(train, holdout): the last `holdout_share` of `sessions` (the most recent, for a log in
    time order) held out, the rest kept for training."""
    if not 0 < holdout_share < 1:
        raise ValueError(f"holdout_share must be between 0 and 1, not {holdout_share}")
    cut = len(sessions) - round(len(sessions) * holdout_share)
    return list(sessions[:cut]), list(sessions[cut:])


def validation_recent(sessions: list[Sequence[str]], predictions: int) -> list[Sequence[str]]:
    """The most recent sessions holding about `predictions` next-view predictions."""
    kept, total = [], 0
    for skus in reversed(sessions):
        if total >= predictions:
            break
        kept.append(skus)
        total += max(0, len(skus) - 1)
    kept.reverse()
    return kept
