"""personalization.engine.evaluation: the next-item protocol, metrics, baselines, comparison."""

import math

import numpy as np
import pytest
from factories import two_groups_log

from personalization.engine.config import RecommenderConfig
from personalization.engine.evaluation import (
    ItemKnnBaseline,
    Metrics,
    PopularityBaseline,
    next_item_evaluate,
    next_item_ranks,
    recommenders_compare,
)
from personalization.engine.learning import recommender_build
from personalization.engine.model import NOT_RANKED
from personalization.engine.prod2vec import Prod2VecParams


class TableScorer:
    """Scores set by hand for each last viewed item; no scores_batch (the fallback path)."""

    def __init__(self, items, by_last):
        self.items = items
        self.by_last = by_last
        self.calls = []

    def scores(self, skus):
        self.calls.append(list(skus))
        return np.asarray(self.by_last[skus[-1]], dtype=np.float32)


def test_hit_rate_and_mrr_follow_the_hand_computed_example():
    scorer = TableScorer(
        ["a", "b", "c", "d"],
        {
            "a": [0.1, 0.9, 0.5, 0.0],  # b is 1st
            "b": [0.9, 0.0, 0.1, 0.5],  # c is 3rd
            "c": [0.5, 0.1, 0.0, 0.9],  # a is 2nd
        },
    )
    sessions = [["a", "b", "c"], ["b", "x"], ["c", "a"]]
    # Predictions: a->b rank 1 (hit), ab->c rank 3 (miss at k=2), b->x unseen (miss),
    # c->a rank 2 (hit). HR@2 = 2/4 = 0.5; MRR@2 = (1/1 + 1/2) / 4 = 0.375.
    metrics = next_item_evaluate(scorer, sessions, k=2)
    assert (metrics.hr, metrics.mrr, metrics.predictions, metrics.k) == (0.5, 0.375, 4, 2)
    # Each prefix was scored once, with all the views before the predicted one (b->x is a
    # miss without scoring).
    assert scorer.calls == [["a"], ["a", "b"], ["c"]]
    # At k=3 the rank-3 prediction counts: HR = 3/4, MRR = (1 + 1/3 + 1/2) / 4 = 11/24.
    metrics = next_item_evaluate(scorer, sessions, k=3)
    assert metrics.hr == 0.75 and math.isclose(metrics.mrr, 11 / 24)


def test_rank_counts_only_strictly_higher_scores_so_ties_favour_the_true_item():
    scorer = TableScorer(["a", "b", "c", "d"], {"a": [0.9, 0.5, 0.5, 0.5]})
    # b is tied with c and d below a: rank = 1 + 1 = 2.
    assert next_item_evaluate(scorer, [["a", "b"]], k=1).hr == 0
    metrics = next_item_evaluate(scorer, [["a", "b"]], k=2)
    assert (metrics.hr, metrics.mrr) == (1.0, 0.5)


def test_a_true_item_without_evidence_is_a_miss_even_when_everything_ties():
    scorer = TableScorer(["a", "b"], {"a": [NOT_RANKED, NOT_RANKED], "b": [np.nan, np.nan]})
    metrics = next_item_evaluate(scorer, [["a", "b"], ["b", "a"]], k=20)
    assert (metrics.hr, metrics.mrr, metrics.predictions) == (0.0, 0.0, 2)


def test_repeated_items_are_predicted_and_stay_candidates():
    scorer = TableScorer(["a", "b"], {"a": [1.0, 0.0]})
    metrics = next_item_evaluate(scorer, [["a", "a", "a"]], k=1)
    assert (metrics.hr, metrics.predictions) == (1.0, 2)


def test_metrics_line_gives_percent_with_two_decimals_and_k():
    assert Metrics(hr=0.5, mrr=0.375, predictions=4, k=20).line("default") == (
        "default HR@20 50.00 MRR@20 37.50"
    )
    assert Metrics(hr=1 / 3, mrr=0.0, predictions=3, k=5).line("x") == "x HR@5 33.33 MRR@5 0.00"
    assert Metrics(hr=0.5, mrr=0.375, predictions=4).as_dict() == {
        "hr": 50.0,
        "mrr": 37.5,
        "predictions": 4,
        "k": 20,
    }


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


def test_batched_and_one_at_a_time_scoring_give_the_same_metrics():
    class OneAtATime:
        def __init__(self, inner):
            self.items, self.scores = inner.items, inner.scores

    baseline = ItemKnnBaseline.fit(LOG)
    batched = next_item_evaluate(baseline, LOG, k=2)
    assert next_item_evaluate(OneAtATime(baseline), LOG, k=2) == batched


TINY_PARAMS = Prod2VecParams(vector_size=8, epochs=3, negative=5, workers=1)


def test_compare_evaluates_every_method_in_order():
    log = two_groups_log()
    results = recommenders_compare(
        log[:100], log[100:], params=TINY_PARAMS, config=RecommenderConfig(), k=5
    )
    assert list(results.ranks) == [
        "popularity",
        "item-knn",
        "session-vector",
        "neighbours",
        "transitions",
        "cooccurrence",
        "repeats",
        "repeats_habit",
        "default",
    ]
    assert results.vocabulary > 0 and results.timings["training prod2vec"] >= 0
    results = results.metrics()
    assert {metrics.predictions for metrics in results.values()} == {60}
    assert all(metrics.k == 5 for metrics in results.values())


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


def test_ranks_split_repeat_and_new_targets_and_session_lengths():
    baseline = PopularityBaseline.fit(LOG)
    ranks = next_item_ranks(baseline, [["a", "c", "a"], ["e", "a"]], k=1)
    # a is a repeat at the end of the first session; a or c is first by popularity
    assert ranks.repeat.tolist() == [False, True, False]
    assert ranks.session_length.tolist() == [3, 3, 2]
    groups = ranks.groups()
    assert groups["repeat"].predictions == 1 and groups["new"].predictions == 2
    assert groups["length 2-5"].predictions == 3 and groups["length 6-10"].predictions == 0
    assert ranks.metrics().hr == (ranks.ranks > 0).mean()


@pytest.mark.parametrize("vector_weight", [0.0, 0.05])
def test_one_pass_over_the_recommenders_parts_ranks_as_each_method_alone(vector_weight):
    import dataclasses

    from personalization.engine.evaluation import methods_ranks, methods_scorers
    from personalization.engine.model import SessionRecommender
    from personalization.engine.prod2vec import prod2vec_train

    log = two_groups_log(300)
    train, test = log[:240], log[240:] + [["unknown", "also-unknown"]]
    vectors = prod2vec_train(train, Prod2VecParams(vector_size=8, epochs=5, workers=1)).vectors
    built = recommender_build(vectors, train, RecommenderConfig())
    weights = {**built.weights, "session-vector": vector_weight}
    model = SessionRecommender(
        built.vectors,
        dataclasses.replace(built.config),
        components=built.components,
        weights=weights,
    )
    together = methods_ranks(model, train, test, k=5)
    alone = {
        name: next_item_ranks(scorer, test, k=5)
        for name, scorer in methods_scorers(model, train).items()
    }
    assert list(together) == list(alone)
    for name in alone:
        assert together[name].ranks.tolist() == alone[name].ranks.tolist(), name
    assert together["default"].metrics().hr > 0
