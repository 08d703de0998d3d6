"""personalization.engine.baselines: popularity and item-kNN, as session-rec computes them."""

import math

import numpy as np

from personalization.engine.baselines import ItemKnnBaseline, PopularityBaseline
from personalization.engine.evaluation import next_item_evaluate
from personalization.engine.model import NOT_RANKED

LOG = [["a", "b"], ["a", "b", "c"], ["a", "b"], ["d", "c"], ["c", "a"], ["e", "c"]]


def test_popularity_ranks_the_most_viewed_item_first_for_any_prefix():
    baseline = PopularityBaseline.fit(LOG)
    scores = baseline.scores(["e"])
    assert baseline.items[int(np.argmax(scores))] in {"a", "c"}  # both viewed 4 times
    assert scores[baseline.items.index("a")] == 4 and scores[baseline.items.index("e")] == 1
    metrics = next_item_evaluate(baseline, [["e", "a"], ["a", "e"]], k=2)
    assert metrics.hr == 0.5  # a is in the top 2, e (viewed once) is not


def test_item_knn_recommends_what_co_occurs_with_the_last_item_only():
    baseline = ItemKnnBaseline.fit(LOG)
    scores = dict(zip(baseline.items, baseline.scores(["d", "a"]), strict=True))
    assert max(scores, key=scores.get) == "b"  # a and b share three sessions
    assert scores["a"] == NOT_RANKED  # the last item itself is not its own neighbour
    assert scores["d"] == NOT_RANKED and scores["e"] == NOT_RANKED  # never seen with a
    assert (baseline.scores(["unknown"]) == NOT_RANKED).all()
    # s(a, b) = co / sqrt((supp_a + 20) * (supp_b + 20)) with co = 3, supp_a = 4, supp_b = 3
    assert math.isclose(scores["b"], 3 / math.sqrt(24 * 23), rel_tol=1e-6)
    assert next_item_evaluate(baseline, [["a", "b"]], k=1).hr == 1.0


def test_item_knn_counts_each_view_of_the_last_item_once_per_item_of_its_session():
    # As session-rec: co(a, b) = 2 (two views of a, each with b in the session), co(b, a) = 1.
    baseline = ItemKnnBaseline.fit([["a", "a", "b"]], regularization=0)
    a_then_b = baseline.scores(["a"])[baseline.items.index("b")]
    b_then_a = baseline.scores(["b"])[baseline.items.index("a")]
    assert math.isclose(a_then_b, 2 / math.sqrt(2 * 1), rel_tol=1e-6)
    assert math.isclose(b_then_a, 1 / math.sqrt(1 * 2), rel_tol=1e-6)


def test_popularity_ranks_shortcut_matches_its_scores():
    baseline = PopularityBaseline.fit(LOG)
    targets = np.arange(len(baseline.items))
    table = baseline.scores_batch([["a"]] * len(targets))
    full = 1 + np.count_nonzero(table > table[0][targets][:, None], axis=1)
    for k in (1, 2, 5):
        expected = np.where(full <= k, full, 0)
        assert (
            baseline.ranks_batch([["a"]] * len(targets), targets, k).tolist() == expected.tolist()
        )
