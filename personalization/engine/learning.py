"""How a recommender is learned from the training sessions: its count components fitted, and
its blend weights learned on the most recent of them, with the components fitted on the older
ones and, for the session vector's weight, vectors that never saw them.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from typing import Any, TypeVar

import numpy as np
from gensim.models import KeyedVectors
from scipy import sparse

from common.memory import heap_release
from common.progress import Progress

from .blend import blend_learn, blend_learn_steps, candidates_gather
from .components import components_fit, sessions_encode
from .config import SESSION_VECTOR, RecommenderConfig
from .model import SessionRecommender, blend_weights_equal
from .predictions import predictions_enumerate
from .ranking import Ranker, popularity_count, ranker_learn
from .splits import sessions_holdout_split

T = TypeVar("T")

# Blend weights are learned on at most this many next-view predictions of the validation
# sessions (the most recent ones): enough to tell weights apart, a few seconds to gather.
VALIDATION_PREDICTIONS = 20_000
GATHER_BATCH = 1000  # predictions gathered at a time
# What gathering a batch costs in the progress, in blend weights tried: about as much time as
# this many (docs/tuning.md), so that the pace of the steps tells the time left.
GATHER_BATCH_STEPS = 12
# The ranker learns on at most this many predictions of the most recent validation sessions.
RANKER_PREDICTIONS = 40_000
# What learning the ranker costs in the progress, beyond describing its candidates (a batch
# of which costs about GATHER_BATCH_STEPS).
RANKER_TRAIN_STEPS = 120


def recommender_build(
    vectors: KeyedVectors,
    sessions: Sequence[Sequence[str]],
    config: RecommenderConfig,
    *,
    vectors_before_validation: KeyedVectors | None = None,
    on_phase: Callable[[str], None] | None = None,
    progress: Progress | None = None,
) -> SessionRecommender:
    """From trained vectors and the training sessions (oldest first): the components fitted
    on the sessions before the most recent `validation_share`, their blend weights learned
    on those, then the components fitted again on every session. The session vector's
    weight is learned too when `vectors_before_validation` are given: vectors that never saw
    the validation sessions (`prod2vec_train`'s `vectors_before_later`, trained as
    `vectors_training_split` says); without, it only ranks what the components have no
    evidence for. `on_phase(name)` hears of each step; `progress` is advanced by each
    component fitted, each batch of validation predictions gathered and each blend weight
    tried (its `total` is set, then grown by the learning once it knows its size)."""
    raw = np.asarray(vectors.vectors, dtype=np.float32)
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    unit = KeyedVectors(vector_size=vectors.vector_size, dtype=np.float32)
    unit.add_vectors(list(vectors.index_to_key), raw / np.where(norms > 0, norms, 1))
    if not config.components:
        return SessionRecommender(unit, config)
    phase = on_phase or (lambda name: None)
    progress = progress if progress is not None else _NoProgress()
    progress.total = len(config.components)
    encoded = sessions_encode(sessions, unit.key_to_index)
    weights, learning, ranker = blend_weights_equal(config.components), {}, None
    with_vector = config.blend_session_vector and vectors_before_validation is not None
    if config.learn_weights and (len(config.components) > 1 or with_vector):
        phase("learning the blend")
        weights, learning, ranker = blend_weights_learn(
            unit,
            sessions,
            encoded,
            config,
            vectors_before_validation,
            progress=progress,
            on_phase=phase,
        )
        heap_release()  # the learning's freed arrays, or counting would peak on top of them
    phase("counting")
    components = components_fit(encoded, config, on_fitted=lambda name: progress.update(1))
    if ranker is not None:  # the products' popularity over every session, as the counts
        ranker = Ranker(ranker.booster, ranker.switch, popularity_count(encoded))
    return SessionRecommender(
        unit, config, components=components, weights=weights, learning=learning, ranker=ranker
    )


def blend_weights_learn(
    vectors: KeyedVectors,
    sessions: Sequence[Sequence[str]],
    encoded: sparse.csr_matrix,
    config: RecommenderConfig,
    vectors_before_validation: KeyedVectors | None = None,
    *,
    progress: Progress | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> tuple[dict[str, float], dict[str, Any], Ranker | None]:
    """The weights (summing to 1) of the components, and of the session vector when
    `vectors_before_validation` are given, that maximise HR@20 + MRR@20 on the most recent
    `validation_share` of `sessions`, the components fitted on the sessions before them (rows
    of `encoded`, the sessions as `sessions_encode` gives them). Returns (weights, what the
    learning saw, the ranker learned on the same sessions with `config.learn_ranking`, or
    None). `progress`'s total grows by the steps the learning reports to it."""
    train, held_out = sessions_holdout_split(sessions, holdout_share=config.validation_share)
    validation = validation_recent(held_out, VALIDATION_PREDICTIONS)
    ranking_sessions = validation_recent(held_out, RANKER_PREDICTIONS)
    names = list(config.components)
    if not validation or not train:
        return blend_weights_equal(names), {"validation_predictions": 0}, None
    # The session vector takes part only with vectors that never saw the validation sessions:
    # with the final ones it would look better there than on sessions to come.
    with_vector = config.blend_session_vector and vectors_before_validation is not None
    progress = progress if progress is not None else _NoProgress()
    predictions = sum(max(0, len(skus) - 1) for skus in validation)
    progress.total = (progress.total or 0) + (
        len(names)  # fitted on the older sessions
        + GATHER_BATCH_STEPS * -(-predictions // GATHER_BATCH)  # predictions gathered
        + blend_learn_steps(len(names))
        + (blend_learn_steps(1) if with_vector else 0)
    )
    if config.learn_ranking:
        ranking_predictions = sum(max(0, len(skus) - 1) for skus in ranking_sessions)
        progress.total += (
            GATHER_BATCH_STEPS * -(-ranking_predictions // GATHER_BATCH) + RANKER_TRAIN_STEPS
        )
    fitted = SessionRecommender(
        # vectors that never saw the validation sessions, when given: with the final ones the
        # session vector would look better there than on sessions to come
        _vectors_aligned(vectors_before_validation, vectors)
        if vectors_before_validation is not None
        else vectors,
        config,
        components=components_fit(
            encoded[: len(train)], config, on_fitted=lambda name: progress.update(1)
        ),
        weights=blend_weights_equal(names),
    )

    def score(prefixes):
        return list(fitted.components_scores(prefixes).values())

    candidates = candidates_gather(
        score,
        validation,
        fitted.index,
        dense_score=fitted.vector_scores if with_vector else None,
        batch_size=GATHER_BATCH,
        on_batch=lambda: progress.update(GATHER_BATCH_STEPS),
    )
    if with_vector:
        # the count components' weights first, as without the vector, then the vector's alone:
        # one ascent over all of them landed in different places from one Word2Vec run to the
        # next
        counts, _ = blend_learn(
            candidates,
            [1.0] * len(names) + [0.0],
            vary=range(len(names)),
            on_steps=progress.update,
        )
        learned, (hr, mrr) = blend_learn(
            candidates, counts, vary=[len(names)], on_steps=progress.update
        )
        names += [SESSION_VECTOR]
    else:
        learned, (hr, mrr) = blend_learn(candidates, [1.0] * len(names), on_steps=progress.update)
    weights = {name: round(value, 4) for name, value in zip(names, learned, strict=True)}
    learning = {
        "validation_sessions": len(validation),
        "validation_predictions": candidates.predictions,
        "hr": round(100 * hr, 2),
        "mrr": round(100 * mrr, 2),
        # measured against the products of the older sessions, which the components were
        # fitted on
        "validation_profile": predictions_profile(
            validation, {sku for skus in train for sku in skus}
        ),
    }
    del candidates
    ranker = None
    if config.learn_ranking:
        if on_phase is not None:
            on_phase("learning the ranking")
        fitted.weights = weights
        ranker, ranking = ranker_learn(
            fitted,
            ranking_sessions,
            popularity_count(encoded[: len(train)]),
            batch_size=GATHER_BATCH,
            on_batch=lambda: progress.update(GATHER_BATCH_STEPS),
        )
        progress.update(RANKER_TRAIN_STEPS)
        learning.update(ranking)
    return weights, learning, ranker


class _NoProgress:
    total: float | None = None

    def update(self, n: float = 1) -> None:
        pass


def _vectors_aligned(vectors: KeyedVectors, index: KeyedVectors) -> KeyedVectors:
    """`vectors` (unit length) in `index`'s order; a product they do not know gets a zero
    vector (cosine 0 with every session)."""
    aligned = np.zeros(index.vectors.shape, dtype=np.float32)
    known = [key for key in vectors.index_to_key if key in index.key_to_index]
    if known:
        rows = np.asarray([index.key_to_index[key] for key in known])
        raw = np.asarray(vectors[known], dtype=np.float32)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        aligned[rows] = raw / np.where(norms > 0, norms, 1)
    result = KeyedVectors(vector_size=index.vector_size, dtype=np.float32)
    result.add_vectors(list(index.index_to_key), aligned)
    return result


def vectors_training_split(
    sessions: Sequence[T], config: RecommenderConfig
) -> tuple[list[T], list[T] | None]:
    """(earlier, later): how to train prod2vec for `recommender_build` with `config`.
    When the session vector's blend weight or the ranking (which reads its cosine) is learned,
    Word2Vec is trained on the sessions before the validation ones, then on those
    (`prod2vec_train(earlier, later=later)`), so that they are learned with vectors that never
    saw them: the same work as one training on all. Otherwise, or when either part has no
    session to learn from, (sessions, None)."""
    if not config.vectors_in_two_passes:
        return list(sessions), None
    earlier, later = sessions_holdout_split(sessions, holdout_share=config.validation_share)
    if not any(len(skus) >= 2 for skus in earlier) or not any(len(skus) >= 2 for skus in later):
        return list(sessions), None
    return earlier, later


def predictions_profile(sessions: Sequence[Sequence[str]], known: Container[str]) -> dict:
    """What sets some next-view predictions apart from others (the validation's from a test's),
    in percent: the share whose next view the session already holds, the share whose next view
    is a product outside `known` (the components' products: always a miss), and their
    sessions' mean length."""
    predictions = repeats = unseen = length = 0
    for prefix, target, session in predictions_enumerate(sessions):
        predictions += 1
        repeats += target in prefix
        unseen += target not in known
        length += len(session)
    if not predictions:
        return {}
    return {
        "repeat_share": round(100 * repeats / predictions, 1),
        "unseen_share": round(100 * unseen / predictions, 1),
        "session_length": round(length / predictions, 1),
    }


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
