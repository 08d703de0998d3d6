"""Learning to rank over the components: their candidates re-ordered by LightGBM's lambdarank.

Each count component proposes its `PER_COMPONENT` best products for a session; every candidate
is described by what each component says of it (score and rank), by the session vector's cosine
and the linear blend's score and rank, by the product (its popularity) and by the session (its
length, how much it has repeated so far, how often and how recently it viewed the candidate),
and by the repeat chance (`RepeatSwitch`, RepeatNet's switch learned as a classifier): how
likely the next view is a product the session already holds. The ranker learns on the most
recent training sessions which of these to trust, per session: a repeat-prone session's held
products rise, an exploring one's new products do.

The ranked list is the candidates in the ranker's order, then every other product in the linear
blend's order (`SessionRecommender` keeps the blend as it was: the ablation row).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from scipy import sparse
from scipy.stats import mannwhitneyu

from .blend import DENSE_CELLS, sparse_top
from .config import FALLBACK_OFFSET
from .predictions import predictions_enumerate

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

    from .components import Prefixes


class Recommender(Protocol):
    """What the ranking reads of the recommender it orders (`SessionRecommender`)."""

    items: list[str]
    index: dict[str, int]
    weights: dict[str, float]
    vectors: KeyedVectors
    components: dict[str, Any]

    @property
    def vector_weight(self) -> float: ...

    def encode(self, prefixes: Sequence[Sequence[str]]) -> Prefixes: ...

    def components_scores_encoded(self, encoded: Prefixes) -> dict[str, sparse.spmatrix]: ...

    def session_vectors_encoded(self, encoded: Prefixes) -> tuple[np.ndarray, np.ndarray]: ...

    def blend_ranks(self, prefixes: Sequence[Sequence[str]], targets: np.ndarray) -> np.ndarray: ...

    def scores_blend(
        self, prefixes: Sequence[Sequence[str]], targets: np.ndarray
    ) -> np.ndarray: ...


PER_COMPONENT = 20  # each component's best products that become candidates
ABSENT_RANK = 1000.0  # the rank feature of a candidate a component has no evidence for
COSINE_CHUNK = 1 << 16  # candidates whose cosines are computed at a time
# Ranker settings, chosen on the shared sets' validation splits (docs/tuning.md).
RANKER_PARAMS = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [20],
    "label_gain": [0, 1],
    "lambdarank_truncation_level": 20,
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.9,
    "max_bin": 63,
    "num_threads": 1,  # a round takes 44 ms on one thread, 744 ms on two shared cores
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
RANKER_ROUNDS = 300
SWITCH_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_data_in_leaf": 100,
    "max_bin": 63,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
SWITCH_ROUNDS = 100
EARLY_STOPPING = 30
HELD_OUT_SHARE = 0.2  # the latest predictions that stop the boosting
# Fewer predictions with their next view among the candidates than this, and no ranker is
# learned: the blend orders alone (a new shop's first sessions).
RANKING_PREDICTIONS_MIN = 100

SESSION_FEATURES = (
    "session length",
    "distinct products",
    "repeat share",
    "last view a repeat",
    "most views of a product",
)


def lightgbm():
    """LightGBM, imported on first use. Its scikit-learn interface is not used: where
    scikit-learn is installed (openTSNE needs it), LightGBM would import it, about 15 MiB more
    in every process that ranks, so it is kept from seeing it."""
    if "lightgbm" in sys.modules:
        return sys.modules["lightgbm"]
    hidden = "sklearn" not in sys.modules
    if hidden:
        sys.modules["sklearn"] = None  # type: ignore[assignment]
    try:
        import lightgbm as module
    finally:
        if hidden:
            del sys.modules["sklearn"]
    return module


@dataclass
class CandidateBatch:
    """The candidates of a batch of predictions, grouped by prediction (`owner` ascending)."""

    owner: np.ndarray  # (candidates,) the prediction each belongs to
    columns: np.ndarray  # (candidates,) the product
    features: np.ndarray  # (candidates, features) float32
    blend: np.ndarray  # (candidates,) the linear blend's score, as `scores_batch` gives it
    counts: np.ndarray  # (predictions,) candidates of each prediction


def session_features(
    prefixes: Sequence[Sequence[str]], encoded: Prefixes, index: dict[str, int]
) -> np.ndarray:
    """What the switch reads of each session so far (SESSION_FEATURES), from the prefixes
    and their encoding (whose counts leave unknown products out)."""
    views = sparse.csr_matrix(encoded.counts)
    rows = views.shape[0]
    table = np.zeros((rows, len(SESSION_FEATURES)), dtype=np.float32)
    if not rows:
        return table
    length = np.asarray([len(skus) for skus in prefixes], dtype=np.float32)
    distinct = np.diff(views.indptr).astype(np.float32)
    last = np.asarray([index.get(skus[-1], -1) if skus else -1 for skus in prefixes])
    known = np.flatnonzero(last >= 0)
    last_views = np.zeros(rows, dtype=np.float32)
    if len(known):
        last_views[known] = np.asarray(views[known, last[known]]).ravel()
    table[:, 0] = length
    table[:, 1] = distinct
    table[:, 2] = 1 - distinct / np.maximum(length, 1)
    table[:, 3] = last_views > 1
    if views.nnz:
        table[:, 4] = views.max(axis=1).toarray().ravel()
    return table


def candidates_describe(
    recommender: Recommender,
    prefixes: Sequence[Sequence[str]],
    popularity: np.ndarray,
    switch: RepeatSwitch | None,
    *,
    encoded: Prefixes | None = None,
    scores: dict[str, sparse.spmatrix] | None = None,
) -> CandidateBatch:
    """The candidates of each prefix (every component's PER_COMPONENT best) and their
    features, in `feature_names` order. `encoded` and the components' `scores` of the prefixes
    are computed unless given."""
    if encoded is None:
        encoded = recommender.encode(prefixes)
    if scores is None:
        scores = recommender.components_scores_encoded(encoded)
    matrices = {}
    for name, matrix in scores.items():
        matrix = sparse.csr_matrix(matrix, dtype=np.float32)
        matrix.eliminate_zeros()  # a stored entry is evidence
        matrices[name] = matrix
    rows, size = len(prefixes), len(recommender.items)
    picked = [_top_keys(matrix, size, PER_COMPONENT) for matrix in matrices.values()]
    candidates = np.unique(np.concatenate(picked)) if picked else np.zeros(0, np.int64)
    owner, columns = candidates // size, candidates % size
    counts = np.bincount(owner, minlength=rows)
    names = feature_names(list(matrices))
    features = np.zeros((len(candidates), len(names)), dtype=np.float32)
    column = iter(range(len(names)))
    evidence = np.zeros(len(candidates), dtype=np.float32)
    blend = np.zeros(len(candidates), dtype=np.float32)
    mask = sparse.csr_matrix(
        (np.ones(len(candidates), np.float32), columns, np.r_[0, np.cumsum(counts)]),
        shape=(rows, size),
    )
    for name, matrix in matrices.items():
        value = _at(matrix, mask, candidates)
        # a component's best are all candidates, so among them each keeps its own rank
        features[:, next(column)] = value
        features[:, next(column)] = np.where(
            value > 0, group_places(value, owner, counts), ABSENT_RANK
        )
        evidence += value > 0
        blend += np.float32(recommender.weights.get(name, 0.0)) * value
    cosines = _cosines(recommender, encoded, owner, columns)
    weight = np.float32(recommender.vector_weight)
    if weight:
        blend += weight * (1 + cosines)
    else:
        blend = np.where(evidence > 0, FALLBACK_OFFSET + blend, cosines).astype(np.float32)
    views = _at(encoded.counts, mask, candidates)
    session = session_features(prefixes, encoded, recommender.index)
    repeat_chance = (
        switch.chances(session) if switch is not None else np.zeros(rows, dtype=np.float32)
    )
    for values in (
        cosines,
        blend,
        group_places(blend, owner, counts),
        evidence,
        np.log(popularity[columns] + 1e-9),
        views,
        _at(encoded.recency, mask, candidates),
        counts[owner],
        *session[owner].T,
        repeat_chance[owner],
        repeat_chance[owner] * (views > 0),
    ):
        features[:, next(column)] = values
    return CandidateBatch(owner, columns, features, blend, counts)


def feature_names(components: Sequence[str]) -> list[str]:
    names = [f"{name} {what}" for name in components for what in ("score", "rank")]
    return names + [
        "cosine",
        "blend score",
        "blend rank",
        "components with evidence",
        "log popularity",
        "views in the session",
        "latest view's weight",
        "candidates",
        *SESSION_FEATURES,
        "repeat chance",
        "repeat chance if held",
    ]


class RepeatSwitch:
    """The chance that a session's next view is a product it already viewed (RepeatNet's
    switch), from what `session_features` reads of it: a gradient-boosted classifier."""

    def __init__(self, booster: Any):
        self.booster = booster

    @classmethod
    def learn(cls, session: np.ndarray, repeat: np.ndarray, seed: int = 1) -> RepeatSwitch:
        """Learned on predictions in time order: the latest HELD_OUT_SHARE stop the boosting."""
        lgb = lightgbm()
        cut = int(len(repeat) * (1 - HELD_OUT_SHARE))
        train = lgb.Dataset(session[:cut], repeat[:cut].astype(np.float32))
        held = lgb.Dataset(session[cut:], repeat[cut:].astype(np.float32), reference=train)
        return cls(_boosted({**SWITCH_PARAMS, "seed": seed}, train, held, SWITCH_ROUNDS))

    def chances(self, session: np.ndarray) -> np.ndarray:
        if not len(session):
            return np.zeros(0, dtype=np.float32)
        return self.booster.predict(
            session, num_iteration=self.booster.best_iteration, num_threads=1
        ).astype(np.float32)

    def as_text(self) -> str:
        return self.booster.model_to_string(num_iteration=self.booster.best_iteration)

    @classmethod
    def from_text(cls, text: str) -> RepeatSwitch:
        return cls(lightgbm().Booster(model_str=text))


class Ranker:
    """The learned order of the candidates: a lambdarank booster over `candidates_describe`'s
    features, with the switch whose chance is one of them and the products' popularity."""

    def __init__(self, booster: Any, switch: RepeatSwitch | None, popularity: np.ndarray):
        self.booster = booster
        self.switch = switch
        self.popularity = popularity

    def describe(
        self,
        recommender: Recommender,
        prefixes: Sequence[Sequence[str]],
        *,
        encoded: Prefixes | None = None,
        scores: dict[str, sparse.spmatrix] | None = None,
    ) -> CandidateBatch:
        return candidates_describe(
            recommender, prefixes, self.popularity, self.switch, encoded=encoded, scores=scores
        )

    def order(self, batch: CandidateBatch) -> np.ndarray:
        """The ranker's score of each candidate (higher first)."""
        if not len(batch.owner):
            return np.zeros(0, dtype=np.float32)
        # one thread: LightGBM's thread pool costs 0.8 ms a call, a visitor's prediction 0.06
        return self.booster.predict(
            batch.features, num_iteration=self.booster.best_iteration, num_threads=1
        ).astype(np.float32)

    def as_text(self) -> tuple[str, str | None]:
        booster = self.booster.model_to_string(num_iteration=self.booster.best_iteration)
        return booster, self.switch.as_text() if self.switch is not None else None

    @classmethod
    def from_text(cls, booster: str, switch: str | None, popularity: np.ndarray) -> Ranker:
        return cls(
            lightgbm().Booster(model_str=booster),
            RepeatSwitch.from_text(switch) if switch is not None else None,
            popularity,
        )


def popularity_count(encoded: sparse.csr_matrix) -> np.ndarray:
    """Each product's share of the views of the encoded sessions."""
    counts = np.bincount(encoded.indices, minlength=encoded.shape[1]).astype(np.float32)
    return counts / max(1.0, float(counts.sum()))


def ranker_learn(
    recommender: Recommender,
    validation: Sequence[Sequence[str]],
    popularity: np.ndarray,
    *,
    seed: int = 1,
    batch_size: int = 1000,
    on_batch: Callable[[], None] | None = None,
) -> tuple[Ranker | None, dict[str, Any]]:
    """A ranker learned on every next-view prediction of `validation` (the most recent
    sessions, oldest first) with `recommender` fitted on the sessions before them; returns it
    (None from fewer than RANKING_PREDICTIONS_MIN useful predictions) and what the learning
    saw (the switch's AUC and the ranker's held-out nDCG@20)."""
    lgb = lightgbm()
    predictions = list(predictions_enumerate(validation))
    prefixes = [prediction.prefix for prediction in predictions]
    targets = [prediction.target for prediction in predictions]
    session = session_features(prefixes, recommender.encode(prefixes), recommender.index)
    repeat = np.asarray([t in p for p, t in zip(prefixes, targets, strict=True)], dtype=bool)
    switch = None
    learning: dict[str, Any] = {"ranker_predictions": len(prefixes)}
    cut = int(len(repeat) * (1 - HELD_OUT_SHARE))
    if len(repeat) >= RANKING_PREDICTIONS_MIN and all(
        0 < part.sum() < len(part) for part in (repeat[:cut], repeat[cut:])
    ):
        switch = RepeatSwitch.learn(session, repeat, seed=seed)
        learning["switch_auc"] = round(_auc(switch.chances(session[cut:]), repeat[cut:]), 3)
    features, labels, groups = [], [], []
    index = recommender.index
    for start in range(0, len(prefixes), batch_size):
        batch = candidates_describe(
            recommender, prefixes[start : start + batch_size], popularity, switch
        )
        wanted = np.asarray(
            [index.get(t, -1) for t in targets[start : start + batch_size]], dtype=np.int64
        )
        label = batch.columns == wanted[batch.owner]
        # a prediction whose next view is no candidate teaches the ranker nothing
        useful = np.bincount(batch.owner, label, len(wanted)) > 0
        keep = useful[batch.owner]
        features.append(batch.features[keep])
        labels.append(label[keep])
        groups.append(batch.counts[useful])
        if on_batch is not None:
            on_batch()
    labels_all = np.concatenate(labels).astype(np.float32) if labels else np.zeros(0)
    groups_all = np.concatenate(groups) if groups else np.zeros(0, np.int64)
    learning["ranker_useful_predictions"] = len(groups_all)
    if len(groups_all) < RANKING_PREDICTIONS_MIN:
        return None, learning
    cut_group = int(len(groups_all) * (1 - HELD_OUT_SHARE))
    cut_row = int(groups_all[:cut_group].sum())
    # the batches' features go to LightGBM as they are, in a list: one array of them all would
    # double their memory while it is made
    train_parts, held_parts, done = [], [], 0
    for part in features:
        train_parts.append(part[: max(0, cut_row - done)])
        held_parts.append(part[max(0, cut_row - done) :])
        done += len(part)
    features.clear()
    names = feature_names(list(recommender.components))
    train = lgb.Dataset(
        [part for part in train_parts if len(part)],
        labels_all[:cut_row],
        group=groups_all[:cut_group],
        feature_name=[name.replace(" ", "_") for name in names],
        params={**RANKER_PARAMS, "seed": seed},
        free_raw_data=True,
    ).construct()
    del train_parts
    held_features = np.concatenate(held_parts)
    del held_parts
    held = lgb.Dataset(
        held_features,
        labels_all[cut_row:],
        group=groups_all[cut_group:],
        reference=train,
    )
    booster = _boosted({**RANKER_PARAMS, "seed": seed}, train, held, RANKER_ROUNDS)
    learning["ranker_rounds"] = int(booster.best_iteration)
    # the ranker serves only where it ranks the held-out predictions better than the blend
    held_groups, held_labels = groups_all[cut_group:], labels_all[cut_row:] > 0
    blend_column = names.index("blend score")
    ranked = booster.predict(held_features, num_iteration=booster.best_iteration)
    learning["ranker_mrr"] = round(100 * _mrr(ranked, held_labels, held_groups), 2)
    learning["blend_mrr"] = round(
        100 * _mrr(held_features[:, blend_column], held_labels, held_groups), 2
    )
    if learning["ranker_mrr"] < learning["blend_mrr"]:
        return None, learning
    return Ranker(booster, switch, popularity), learning


def _boosted(params: dict[str, Any], train: Any, held: Any, rounds: int) -> Any:
    """A LightGBM booster trained on `train` for at most `rounds`, stopped when `held` (the
    latest predictions) has not improved for EARLY_STOPPING rounds."""
    lgb = lightgbm()
    return lgb.train(
        params,
        train,
        num_boost_round=rounds,
        valid_sets=[held],
        callbacks=[lgb.early_stopping(EARLY_STOPPING, verbose=False)],
    )


def _mrr(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, k: int = 20) -> float:
    """MRR@k of `scores` over groups of candidates, each holding its true item once."""
    if not len(groups):
        return 0.0
    ranks = _true_ranks(scores, np.repeat(np.arange(len(groups)), groups), labels, len(groups))
    return float(np.sum(np.where(ranks <= k, 1 / ranks, 0)) / len(groups))


def _true_ranks(
    scores: np.ndarray, owner: np.ndarray, is_true: np.ndarray, groups: int
) -> np.ndarray:
    """Each group's true candidate's rank by `scores` (1 + the candidates scoring more), 0
    for a group without one."""
    true = np.full(groups, np.nan, dtype=np.float64)
    true[owner[is_true]] = scores[is_true]
    higher = np.bincount(owner, scores > true[owner], groups)
    return np.where(np.isfinite(true), 1 + higher, 0).astype(np.int64)


def ranked_ranks(
    ranker: Ranker,
    recommender: Recommender,
    prefixes: Sequence[Sequence[str]],
    targets: np.ndarray,
    k: int,
    *,
    encoded: Prefixes | None = None,
    scores: dict[str, sparse.spmatrix] | None = None,
) -> np.ndarray:
    """Each true item's rank (0: a miss or beyond k) in the ranked list: the candidates in the
    ranker's order, then the others in the linear blend's. `encoded` and `scores`: as
    `candidates_describe` takes them."""
    batch = ranker.describe(recommender, prefixes, encoded=encoded, scores=scores)
    rows = len(targets)
    is_target = batch.columns == targets[batch.owner]
    ranks = _true_ranks(ranker.order(batch), batch.owner, is_target, rows)
    # a true item that is no candidate comes after all of them, in the blend's order of the
    # rest: within k only where there are fewer than k candidates
    outside = np.flatnonzero((ranks == 0) & (batch.counts < k))
    if len(outside):
        chosen = [prefixes[i] for i in outside]
        blend_ranks = recommender.blend_ranks(chosen, targets[outside])
        true_blend = np.full(rows, np.nan, dtype=np.float32)
        true_blend[outside] = recommender.scores_blend(chosen, targets[outside])
        above = np.bincount(batch.owner, batch.blend > true_blend[batch.owner], rows)
        ranks[outside] = np.where(
            blend_ranks > 0, batch.counts[outside] + blend_ranks - above[outside], 0
        )
    return np.where(ranks <= k, ranks, 0)


def _top_keys(matrix: sparse.csr_matrix, size: int, per: int) -> np.ndarray:
    """row * size + column of each row's `per` best entries."""
    top, _ = sparse_top(matrix, per)
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), top.shape[1])
    top = top.ravel()
    kept = top >= 0
    return rows[kept] * size + top[kept]


def _at(matrix: sparse.spmatrix, mask: sparse.csr_matrix, keys: np.ndarray) -> np.ndarray:
    """`matrix`'s value at each candidate: `mask` holds a 1 at each, `keys` (row * columns +
    column, ascending) names them. One element-wise product, linear in the entries; a few
    rows (a visitor's) are read densely, faster than any sparse operation."""
    rows, size = mask.shape
    if rows * size <= DENSE_CELLS:
        return np.asarray(matrix.toarray(), dtype=np.float32).ravel()[keys]
    values = np.zeros(len(keys), dtype=np.float32)
    found = sparse.csr_matrix(sparse.csr_matrix(matrix).multiply(mask))
    found.eliminate_zeros()
    if found.nnz:
        owners = np.repeat(np.arange(found.shape[0], dtype=np.int64), np.diff(found.indptr))
        values[np.searchsorted(keys, owners * found.shape[1] + found.indices)] = found.data
    return values


def _cosines(recommender, encoded, owner, columns) -> np.ndarray:
    vectors, _ = recommender.session_vectors_encoded(encoded)
    items = recommender.vectors.vectors
    result = np.empty(len(owner), dtype=np.float32)
    for start in range(0, len(owner), COSINE_CHUNK):
        part = slice(start, start + COSINE_CHUNK)
        result[part] = np.einsum("ij,ij->i", vectors[owner[part]], items[columns[part]])
    return result


def group_places(values: np.ndarray, owner: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each value's place (1 the highest) among those of its group (`owner` ascending, every
    value finite): 1 + the values of its group above it, so equal values share a place, as
    `_true_ranks` counts a true item's rank (the shop's order and its evaluation agree)."""
    if not len(values):
        return np.zeros(0, dtype=np.float32)
    order = np.lexsort((-values.astype(np.float64), owner))
    ordered, owners = values[order], owner[order]
    at = np.arange(len(values))
    new_run = np.ones(len(values), dtype=bool)
    new_run[1:] = (owners[1:] != owners[:-1]) | (ordered[1:] != ordered[:-1])
    run_start = np.maximum.accumulate(np.where(new_run, at, 0))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    places = np.empty(len(values), dtype=np.float32)
    places[order] = run_start - starts[owners] + 1
    return places


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The area under the ROC curve: Mann-Whitney's U over the positives and negatives."""
    positives, negatives = scores[labels], scores[~labels]
    if not len(positives) or not len(negatives):
        return float("nan")
    return float(mannwhitneyu(positives, negatives).statistic / (len(positives) * len(negatives)))
