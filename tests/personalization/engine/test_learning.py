"""personalization.engine.learning: a recommender built from sessions, its blend weights learned."""

import dataclasses
import math
import os

from factories import EMBEDDING_ONLY, hand_vectors
from factories import hand_recommender as recommender

from personalization.engine.config import RecommenderConfig
from personalization.engine.learning import recommender_build, vectors_training_split


def test_build_learns_weights_that_favour_the_component_that_predicts():
    # Every session is a walk a -> b -> c -> d: transitions predict each next view exactly;
    # repeats (the session's own products) never do.
    sessions = [["a", "b", "c", "d"]] * 40 + [["b", "c", "d"]] * 20
    model = recommender(RecommenderConfig(components=("transitions", "repeats")), sessions)
    assert model.weights["transitions"] > model.weights["repeats"]
    assert math.isclose(sum(model.weights.values()), 1, rel_tol=1e-6)
    assert model.learning["validation_predictions"] > 0 and model.learning["hr"] == 100.0


def test_the_session_vector_weight_is_learned_with_vectors_that_never_saw_the_validation():
    # The older sessions go b -> c; the validation ones (the last 15%) go b -> d, which only
    # the vectors can tell (d lies between a and b): the vector must outweigh the transitions.
    sessions = [["b", "c"]] * 34 + [["b", "d"]] * 6
    config = RecommenderConfig(components=("transitions", "repeats"), blend_session_vector=True)
    earlier, later = vectors_training_split(sessions, config)
    assert (earlier, later) == (sessions[:34], sessions[34:])
    without = recommender(config, sessions)
    assert "session-vector" not in without.weights and without.vector_weight == 0
    learned = recommender_build(
        hand_vectors(), sessions, config, vectors_before_validation=hand_vectors()
    )
    assert learned.weights["session-vector"] > learned.weights["transitions"]
    assert learned.learning["mrr"] > without.learning["mrr"]
    assert math.isclose(sum(learned.weights.values()), 1, abs_tol=1e-3)
    # no learning (or nothing to learn on): one training on every session
    # the ranking reads the vectors too: split for it alone as well
    ranking_only = dataclasses.replace(config, blend_session_vector=False)
    assert vectors_training_split(sessions, ranking_only) == (sessions[:34], sessions[34:])
    unsplit_configs = (
        dataclasses.replace(ranking_only, learn_ranking=False),
        dataclasses.replace(config, learn_weights=False),
        EMBEDDING_ONLY,
    )
    for unsplit in unsplit_configs:
        assert vectors_training_split(sessions, unsplit) == (sessions, None)
    assert vectors_training_split([["a", "b"], ["c"]], config) == ([["a", "b"], ["c"]], None)


def test_a_tqdm_bar_without_a_total_follows_the_build():
    # tqdm refuses bool() while its total is unknown: the build sets the total, never asks
    from tqdm import tqdm

    sessions = [["a", "b", "c", "d"]] * 40 + [["b", "c", "d"]] * 20
    config = RecommenderConfig(components=("transitions", "repeats"))
    with open(os.devnull, "w") as sink, tqdm(file=sink) as bar:
        built = recommender_build(hand_vectors(), sessions, config, progress=bar)
    assert built.weights["transitions"] > built.weights["repeats"]
    assert bar.total and bar.n >= len(config.components)
