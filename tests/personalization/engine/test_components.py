"""personalization.engine.components: what the recommender blends, fitted by counting."""

import numpy as np
import pytest

from personalization.engine import components
from personalization.engine.components import (
    ItemToItem,
    Repeats,
    SessionNeighbours,
    pairs_count,
    prefixes_encode,
    sessions_encode,
)

INDEX = {sku: code for code, sku in enumerate("abcdef")}


def test_prefixes_keep_each_products_latest_view_and_sum_every_view():
    encoded = prefixes_encode([["a", "b", "a"], ["gone", "c"]], INDEX, half_life=1.0)
    recency = encoded.recency.toarray()
    # a's latest view is the last (weight 1), b one view older (0.5)
    assert recency[0, :3].tolist() == [1.0, 0.5, 0.0]
    # every view: a twice (1 + 0.25)
    assert encoded.views.toarray()[0, :2].tolist() == [1.25, 0.5]
    # an unknown SKU is left out but still a view: nothing after it, so c weighs 1
    assert recency[1, 2] == 1.0 and recency[1].sum() == 1.0
    plain = prefixes_encode([["a", "b", "a"]], INDEX, half_life=None)
    assert plain.views.toarray()[0, :2].tolist() == [2.0, 1.0]


def test_pairs_count_directed_counts_only_what_came_after_nearer_views_more():
    encoded = sessions_encode([["a", "b", "c"], ["c", "a"]], INDEX)
    directed = pairs_count(encoded, window=2, directed=True, size=6).toarray()
    assert directed[0, 1] == 1 and directed[0, 2] == 0.5  # a then b (1 apart), c (2 apart)
    assert directed[1, 0] == 0 and directed[2, 0] == 1  # b never before a; c before a once
    both = pairs_count(encoded, window=2, directed=False, size=6).toarray()
    assert np.array_equal(both, directed + directed.T)


def test_pairs_count_in_chunks_equals_one_pass(monkeypatch):
    rng = np.random.default_rng(3)
    sessions = [list(rng.choice(list("abcdef"), size=rng.integers(1, 7))) for _ in range(300)]
    encoded = sessions_encode(sessions, INDEX)
    whole = pairs_count(encoded, window=3, directed=True, size=6).toarray()
    monkeypatch.setattr(components, "COUNT_CHUNK", 7)
    chunked = pairs_count(encoded, window=3, directed=True, size=6).toarray()
    np.testing.assert_allclose(chunked, whole, rtol=1e-5)


def test_transitions_recommend_what_was_viewed_next_not_before():
    encoded = sessions_encode([["a", "b"]] * 5 + [["c", "d"]] * 5, INDEX)
    transitions = ItemToItem.fit(encoded, window=1, directed=True, prior=0)
    scores = transitions.scores(prefixes_encode([["a"], ["b"]], INDEX, half_life=1.0)).toarray()
    assert scores[0].argmax() == INDEX["b"] and scores[0].sum() == pytest.approx(1)
    assert scores[1].sum() == 0  # nothing ever followed b


def test_neighbours_weigh_a_shared_rare_product_above_a_shared_common_one():
    # a is in most sessions, e in three: a visitor who viewed e then a is most like the
    # sessions with e, so their other product (f) comes before b (seen with a only).
    sessions = [["a", "b"], ["a", "c"], ["a", "d"], ["a", "e", "f"]] * 3 + [["b", "c"]] * 3
    prefix = prefixes_encode([["e", "a"]], INDEX, half_life=1.0)
    everyone = SessionNeighbours.fit(sessions_encode(sessions, INDEX), k=100)
    scores = everyone.scores(prefix).toarray()[0]
    assert scores[INDEX["f"]] > scores[INDEX["b"]] > 0
    assert scores.sum() == pytest.approx(1)
    # k=3: only the three sessions with e count, so b gets nothing
    nearest = SessionNeighbours.fit(sessions_encode(sessions, INDEX), k=3)
    scores = nearest.scores(prefix).toarray()[0]
    assert scores[INDEX["f"]] > 0 and scores[INDEX["b"]] == 0


def test_neighbours_are_drawn_from_the_most_recent_training_sessions_only():
    """The pool is the last `neighbour_sessions` sessions (oldest first): an older session's
    products are never recommended through it, and the fitted matrix holds the pool alone."""
    from personalization.engine.components import components_fit
    from personalization.engine.config import RecommenderConfig

    sessions = [["a", "b"]] * 5 + [["d", "e"], ["a", "c"], ["a", "c"]]  # c's are the latest
    encoded = sessions_encode(sessions, INDEX)
    prefix = prefixes_encode([["a"]], INDEX, half_life=1.0)
    config = RecommenderConfig(components=("neighbours",), neighbour_sessions=3)
    pooled = components_fit(encoded, config)["neighbours"]
    assert pooled.incidence.shape[0] == 3
    scores = pooled.scores(prefix).toarray()[0]
    assert scores[INDEX["c"]] > 0 and scores[INDEX["b"]] == 0
    everyone = components_fit(encoded, RecommenderConfig(components=("neighbours",)))
    assert everyone["neighbours"].incidence.shape[0] == 8  # a pool larger than the sessions
    assert everyone["neighbours"].scores(prefix).toarray()[0][INDEX["b"]] > 0
    with pytest.raises(ValueError, match="neighbour_sessions must be a positive integer"):
        RecommenderConfig(neighbour_sessions=0)


def test_repeats_score_the_sessions_own_products_by_recency_and_count():
    scores = Repeats().scores(prefixes_encode([["a", "b", "a", "c"]], INDEX, half_life=1.0))
    row = scores.toarray()[0]
    # a: 0.5 + 0.125, b: 0.25, c: 1, summing to one
    assert row[:3] == pytest.approx(np.array([0.625, 0.25, 1.0]) / 1.875)
    assert row[3:].sum() == 0


def test_repeats_habit_scores_only_sessions_that_came_back_to_a_product():
    prefixes = prefixes_encode([["a", "b", "a"], ["a", "b"]], INDEX, half_life=1.0)
    assert prefixes.repeated.tolist() == [True, False]
    habit = Repeats(habit=True).scores(prefixes).toarray()
    assert habit[0].sum() == pytest.approx(1) and habit[1].sum() == 0
    assert Repeats.from_arrays(Repeats(habit=True).arrays()).habit is True
