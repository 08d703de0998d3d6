"""personalization.engine.model: session vectors, the blended scores, recommendations."""

import math

import numpy as np
import pytest
from factories import EMBEDDING_ONLY
from factories import hand_recommender as recommender

from personalization.engine.config import RecommenderConfig
from personalization.engine.model import NOT_RANKED, SessionRecommender


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


def test_scores_batch_matches_scores_one_session_at_a_time():
    model = recommender(RecommenderConfig(), sessions=[["a", "c", "b"], ["d", "a"]])
    prefixes = [["a"], ["b", "gone", "a"], ["gone"], ["d", "d", "c"]]
    table = model.scores_batch(prefixes)
    for row, prefix in zip(table, prefixes, strict=True):
        # Equal up to float32 rounding: BLAS may sum a batch in another order than one row.
        np.testing.assert_allclose(row, model.scores(prefix), rtol=1e-6, atol=1e-6)


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
