"""What the shop thinks a visitor likes: the categories and audiences (targets) nearest to their
session vector, with shares, as Algolia's personalization demo shows its visitor's profile.

Each value (a category, an audience) is the mean direction of its products' vectors in the
active model. A visitor's affinity to it is the cosine of their session vector to that
direction; the shares are a softmax of those cosines over every value of the facet (at
SHARE_TEMPERATURE), so they say how much of the visitor's taste each value holds: a runner's
profile is mostly running categories, a new visitor has none.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from catalog.models import Product

from .serving import ActiveModel
from .state import VisitorState

FIELDS = ("category", "target")
SHARE_TEMPERATURE = 0.1  # a cosine higher by 0.1 weighs e (2.7) times more
SHOWN = 3
SHARE_SHOWN = 0.005  # a value under half a percent would read "0%": left out (the best is kept)


@dataclass(frozen=True)
class Liking:
    value: str
    share: float  # of the visitor's taste over every value of the facet, 0..1
    similarity: float  # cosine of the session vector to the value's direction


@dataclass(frozen=True)
class _Directions:
    values: list[str]
    matrix: np.ndarray  # a unit row per value


# The loaded model's directions, and its answers for sessions: kept by the model itself, as a
# version's id alone can name another model (a database restored, or a test's rolled-back rows).
_kept: tuple[ActiveModel, dict[str, _Directions], dict] | None = None
_lock = threading.Lock()
AFFINITIES_KEPT = 4096  # sessions' affinities kept per process for the loaded model


def visitor_affinity(
    state: VisitorState, model: ActiveModel | None, *, shown: int = SHOWN
) -> dict[str, list[Liking]]:
    """Facet -> the `shown` values the visitor likes most, most first; {} without a session
    vector (a new visitor, no model, or the state unreadable).

    Kept per model and session views (what it is worked out from), as the model's
    recommendations are: a visitor's pages with no view between them (a search, its next page,
    a filter) show their taste without working it out again. Shared: not to be changed."""
    if model is None or not state.skus:
        return {}
    directions, answers = _model_kept(model)
    key = (state.skus, shown)
    profile = answers.get(key)
    if profile is None:
        profile = _affinity(state.vector(model), directions, shown)
        if len(answers) >= AFFINITIES_KEPT:
            answers.clear()
        answers[key] = profile
    return profile


def _affinity(
    vector: np.ndarray | None, directions_by_field: dict[str, _Directions], shown: int
) -> dict[str, list[Liking]]:
    if vector is None:
        return {}
    profile = {}
    for field, directions in directions_by_field.items():
        if not directions.values:
            continue
        cosines = directions.matrix @ vector.astype(np.float64)
        weights = np.exp((cosines - cosines.max()) / SHARE_TEMPERATURE)
        shares = weights / weights.sum()
        order = np.argsort(-cosines, kind="stable")[:shown]
        best = [i for rank, i in enumerate(order) if rank == 0 or shares[i] >= SHARE_SHOWN]
        profile[field] = [
            Liking(directions.values[i], float(shares[i]), float(cosines[i])) for i in best
        ]
    return profile


def _model_kept(model: ActiveModel) -> tuple[dict[str, _Directions], dict]:
    global _kept
    kept = _kept
    if kept is None or kept[0] is not model:
        with _lock:
            kept = _kept
            if kept is None or kept[0] is not model:
                kept = _kept = (model, _directions_compute(model), {})
    return kept[1], kept[2]


def _directions_compute(model: ActiveModel) -> dict[str, _Directions]:
    """Each facet value's mean product direction (products without a vector left out)."""
    index = model.recommender.index
    vectors = np.asarray(model.recommender.vectors.vectors, dtype=np.float64)
    rows = Product.objects.values_list("sku", "target", "extra__category").iterator(10_000)
    codes, by_field = [], {field: [] for field in FIELDS}
    for sku, target, category in rows:
        code = index.get(sku)
        if code is None:
            continue
        codes.append(code)
        by_field["target"].append(target or "")
        by_field["category"].append(str(category or ""))
    found = {}
    for field, labels in by_field.items():
        values = sorted({label for label in labels if label})
        if not values:
            found[field] = _Directions([], np.zeros((0, vectors.shape[1])))
            continue
        number = {value: i for i, value in enumerate(values)}
        groups = np.array([number.get(label, -1) for label in labels], dtype=np.int64)
        kept = groups >= 0
        sums = np.zeros((len(values), vectors.shape[1]))
        unit = vectors[np.array(codes, dtype=np.int64)[kept]]
        unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
        np.add.at(sums, groups[kept], unit)
        sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        found[field] = _Directions(values, sums)
    return found


def affinity_forget() -> None:
    """Compute the directions again at the next call (the catalog changed: tests)."""
    global _kept
    with _lock:
        _kept = None
