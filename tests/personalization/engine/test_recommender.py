"""personalization.engine.recommender: session vectors, the blended recommender, storage."""

import dataclasses
import math

import numpy as np
import pytest
from gensim.models import KeyedVectors

from personalization.engine.config import RecommenderConfig
from personalization.engine.learning import recommender_build, vectors_training_split
from personalization.engine.model import NOT_RANKED, SessionRecommender
from personalization.engine.persistence import recommender_load, recommender_save

EMBEDDING_ONLY = RecommenderConfig(half_life=1.0, dedupe=True, components=())


def hand_vectors() -> KeyedVectors:
    """a, b, c along the axes (not unit length: build normalizes), d between a and b."""
    vectors = KeyedVectors(vector_size=3)
    vectors.add_vectors(
        ["a", "b", "c", "d"],
        np.array([[2, 0, 0], [0, 3, 0], [0, 0, 1], [1, 0.8, 0]], dtype=np.float32),
    )
    return vectors


def recommender(config=EMBEDDING_ONLY, sessions=()) -> SessionRecommender:
    return recommender_build(hand_vectors(), list(sessions), config)


def unit(*values):
    vector = np.array(values, dtype=np.float64)
    return vector / np.linalg.norm(vector)


def test_session_vector_weighs_views_by_recency_with_the_half_life():
    # a viewed one view before b: weights 0.5 and 1 on the unit vectors.
    vector = recommender().session_vector(["a", "b"])
    assert vector.dtype == np.float32 and math.isclose(np.linalg.norm(vector), 1, rel_tol=1e-6)
    assert np.allclose(vector, unit(0.5, 1, 0), atol=1e-6)
    longer = recommender(RecommenderConfig(half_life=2.0, components=()))
    assert np.allclose(longer.session_vector(["a", "b"]), unit(2**-0.5, 1, 0), atol=1e-6)


def test_plain_mean_when_there_is_no_half_life():
    plain = recommender(RecommenderConfig(half_life=None, dedupe=False, components=()))
    assert np.allclose(plain.session_vector(["a", "b", "a"]), unit(2, 1, 0), atol=1e-6)


def test_dedupe_counts_a_repeated_sku_once_at_its_latest_view():
    # a, b, a: deduplicated a weighs 1 (age 0) and b 0.5; otherwise a weighs 1 + 0.25.
    assert np.allclose(recommender().session_vector(["a", "b", "a"]), unit(1, 0.5, 0), atol=1e-6)
    repeated = recommender(RecommenderConfig(half_life=1.0, dedupe=False, components=()))
    assert np.allclose(repeated.session_vector(["a", "b", "a"]), unit(1.25, 0.5, 0), atol=1e-6)


def test_unknown_skus_are_ignored_but_still_age_the_views_before_them():
    # a is two views old (weight 0.25), b the latest (weight 1); dropping the unknown view
    # would make a one view old (weight 0.5).
    vector = recommender().session_vector(["a", "gone", "b"])
    assert np.allclose(vector, unit(0.25, 1, 0), atol=1e-6)


def test_no_session_vector_and_no_recommendation_without_a_known_sku():
    model = recommender(RecommenderConfig(), sessions=[["a", "b"]])
    assert model.session_vector([]) is None
    assert model.session_vector(["gone"]) is None
    assert (model.scores(["gone"]) == NOT_RANKED).all()
    assert model.recommend(["gone"]) == []


def test_scores_are_cosines_aligned_with_items():
    model = recommender()
    scores = model.scores(["a"])
    assert scores.shape == (4,) and model.items == ["a", "b", "c", "d"]
    assert np.allclose(scores, [1, 0, 0, unit(1, 0.8, 0)[0]], atol=1e-6)


def test_recommend_ranks_best_first_and_leaves_out_excluded_skus():
    model = recommender()
    assert [sku for sku, _ in model.recommend(["a"], k=2)] == ["a", "d"]
    ranked = model.recommend(["a"], k=1, exclude=["a", "unknown"])
    assert ranked == [("d", pytest.approx(unit(1, 0.8, 0)[0], abs=1e-6))]
    assert len(model.recommend(["a"], k=10)) == 4


def test_similar_gives_nearest_products_without_the_product_itself():
    model = recommender()
    assert [sku for sku, _ in model.similar("a", k=1)] == ["d"]
    assert [sku for sku, _ in model.similar("d", k=2)] == ["a", "b"]
    assert model.similar("unknown") == []


def test_blend_ranks_what_shoppers_viewed_next_above_the_session_vector_fallback():
    # c is orthogonal to a in the embedding, but shoppers who view a then view c.
    sessions = [["a", "c"]] * 20
    embedding = recommender(EMBEDDING_ONLY, sessions)
    assert [sku for sku, _ in embedding.recommend(["a"], k=3)][1] == "d"
    blended = recommender(RecommenderConfig(components=("transitions",)), sessions)
    ranked = [sku for sku, _ in blended.recommend(["a"], k=4)]
    # c has evidence; a, d and b follow by cosine with the session vector (a itself first)
    assert ranked == ["c", "a", "d", "b"]
    without_fallback = recommender(
        RecommenderConfig(components=("transitions",), fallback=False), sessions
    )
    assert [sku for sku, _ in without_fallback.recommend(["a"], k=4)] == ["c"]
    # The session vector, used by search, is the same with or without the blend.
    assert np.array_equal(blended.session_vector(["a", "c"]), embedding.session_vector(["a", "c"]))


def test_build_learns_weights_that_favour_the_component_that_predicts():
    # Every session is a walk a -> b -> c -> d: transitions predict each next view exactly;
    # repeats (the session's own products) never do.
    sessions = [["a", "b", "c", "d"]] * 40 + [["b", "c", "d"]] * 20
    model = recommender(RecommenderConfig(components=("transitions", "repeats")), sessions)
    assert model.weights["transitions"] > model.weights["repeats"]
    assert math.isclose(sum(model.weights.values()), 1, rel_tol=1e-6)
    assert model.learning["validation_predictions"] > 0 and model.learning["hr"] == 100.0


def test_scores_batch_matches_scores_one_session_at_a_time():
    model = recommender(RecommenderConfig(), sessions=[["a", "c", "b"], ["d", "a"]])
    prefixes = [["a"], ["b", "gone", "a"], ["gone"], ["d", "d", "c"]]
    table = model.scores_batch(prefixes)
    for row, prefix in zip(table, prefixes, strict=True):
        # Equal up to float32 rounding: BLAS may sum a batch in another order than one row.
        np.testing.assert_allclose(row, model.scores(prefix), rtol=1e-6, atol=1e-6)


def test_save_and_load_round_trip_memory_maps_the_vectors(tmp_path):
    model = recommender(RecommenderConfig(), sessions=[["a", "c", "b"], ["d", "a"]])
    recommender_save(model, tmp_path / "model")
    loaded = recommender_load(tmp_path / "model")
    assert isinstance(loaded.vectors.vectors, np.memmap)
    assert loaded.config == model.config and loaded.items == model.items
    assert loaded.weights == model.weights and set(loaded.components) == set(model.components)
    for prefix in (["a"], ["b", "c", "a"], ["gone"]):
        assert np.array_equal(loaded.scores(prefix), model.scores(prefix))
    assert loaded.recommend(["b"], k=2) == model.recommend(["b"], k=2)


def test_config_round_trips_and_rejects_unknown_or_bad_values():
    config = RecommenderConfig(half_life=None, components=("repeats", "neighbours"))
    assert RecommenderConfig.from_dict(config.as_dict()) == config
    assert RecommenderConfig.from_dict({}) == RecommenderConfig()
    with pytest.raises(ValueError, match="unknown RecommenderConfig key.*halflife"):
        RecommenderConfig.from_dict({"halflife": 2})
    with pytest.raises(ValueError, match="half_life"):
        RecommenderConfig(half_life=0)
    with pytest.raises(ValueError, match="cooccurrence_window"):
        RecommenderConfig(cooccurrence_window=0)
    with pytest.raises(ValueError, match="unknown component.*popular"):
        RecommenderConfig(components=("popular",))


def test_a_model_of_the_previous_format_is_refused_with_a_hint_to_retrain(tmp_path):
    recommender_save(recommender(), tmp_path / "model")
    stored = tmp_path / "model" / "config.json"
    stored.write_text(stored.read_text().replace('"format": 2', '"format": 1'))
    with pytest.raises(ValueError, match="format 1, expected 2.*retrain"):
        recommender_load(tmp_path / "model")


def test_ranks_batch_ranks_as_the_full_scores_do():
    from personalization.engine.blend import dense_ranks

    sessions = [["a", "c", "b"], ["d", "a"], ["a", "c"], ["b", "d", "c"]] * 5
    model = recommender(RecommenderConfig(), sessions=sessions)
    prefixes = [["a"], ["b", "gone", "a"], ["gone"], ["d", "d", "c"], ["c"], ["b"]]
    for k in (1, 2, 4):
        for target in range(4):
            targets = np.full(len(prefixes), target)
            full = dense_ranks(model.scores_batch(prefixes), targets, k)
            assert model.ranks_batch(prefixes, targets, k).tolist() == full.tolist()
    # and with the session vector in the blend, every product scored
    blended = SessionRecommender(
        model.vectors,
        model.config,
        components=model.components,
        weights={**model.weights, "session-vector": 0.05},
    )
    assert blended.vector_weight == 0.05
    for k in (1, 2, 4):
        for target in range(4):
            targets = np.full(len(prefixes), target)
            full = dense_ranks(blended.scores_batch(prefixes), targets, k)
            assert blended.ranks_batch(prefixes, targets, k).tolist() == full.tolist()
    assert not np.array_equal(blended.scores(["a"]), model.scores(["a"]))


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
    for unsplit in (dataclasses.replace(config, blend_session_vector=False), EMBEDDING_ONLY):
        assert vectors_training_split(sessions, unsplit) == (sessions, None)
    assert vectors_training_split([["a", "b"], ["c"]], config) == ([["a", "b"], ["c"]], None)


def test_components_scores_are_each_components_own_distribution_by_name():
    config = RecommenderConfig(components=("transitions", "repeats"), learn_weights=False)
    model = recommender(config, sessions=[["a", "c"]] * 20)
    parts = model.components_scores([["a"], ["a", "b", "a"], ["gone"]])
    assert list(parts) == ["transitions", "repeats"]
    transitions, repeats = parts["transitions"].toarray(), parts["repeats"].toarray()
    assert transitions.shape == repeats.shape == (3, 4)
    # after a, shoppers viewed c: all of the transitions' evidence
    assert np.allclose(transitions[0], [0, 0, 1, 0], atol=1e-6)
    # a viewed at ages 2 and 0 (0.25 + 1), b at age 1 (0.5): the session's own views
    assert np.allclose(repeats[1], np.array([1.25, 0.5, 0, 0]) / 1.75, atol=1e-6)
    assert not transitions[2].any() and not repeats[2].any()  # no known view: no evidence


def test_vector_scores_are_one_plus_the_cosine_and_zero_without_a_known_sku():
    model = recommender()
    table = model.vector_scores([["a"], ["gone"], ["a", "b"]])
    assert table.dtype == np.float32 and table.shape == (3, 4)
    assert np.allclose(table[0], 1 + np.array([1, 0, 0, unit(1, 0.8, 0)[0]]), atol=1e-6)
    assert not table[1].any()
    assert np.allclose(table[2], 1 + model.scores(["a", "b"]), atol=1e-6)


def test_the_blend_is_the_weighted_sum_of_its_parts_scores():
    sessions = [["a", "c", "b"], ["d", "a"], ["a", "c"], ["b", "d", "c"]] * 5
    built = recommender(RecommenderConfig(), sessions=sessions)
    weights = {**built.weights, "session-vector": 0.05}
    model = SessionRecommender(
        built.vectors, built.config, components=built.components, weights=weights
    )
    prefixes = [["a"], ["b", "gone", "a"], ["d", "d", "c"]]
    expected = 0.05 * model.vector_scores(prefixes)
    for name, scores in model.components_scores(prefixes).items():
        expected += weights[name] * scores.toarray()
    np.testing.assert_allclose(model.scores_batch(prefixes), expected, rtol=1e-5, atol=1e-6)
