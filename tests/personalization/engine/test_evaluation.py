"""personalization.engine.evaluation: the next-item protocol, its ranks and metrics."""

import math

import numpy as np

from personalization.engine.baselines import ItemKnnBaseline, PopularityBaseline
from personalization.engine.evaluation import Metrics, next_item_evaluate, next_item_ranks
from personalization.engine.model import NOT_RANKED


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


def test_batched_and_one_at_a_time_scoring_give_the_same_metrics():
    class OneAtATime:
        def __init__(self, inner):
            self.items, self.scores = inner.items, inner.scores

    baseline = ItemKnnBaseline.fit(LOG)
    batched = next_item_evaluate(baseline, LOG, k=2)
    assert next_item_evaluate(OneAtATime(baseline), LOG, k=2) == batched


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
