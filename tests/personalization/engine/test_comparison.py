"""personalization.engine.comparison: every method ranked on the same test sessions."""

import pytest
from factories import two_groups_log

from personalization.engine.comparison import recommenders_compare
from personalization.engine.config import RecommenderConfig
from personalization.engine.evaluation import next_item_ranks
from personalization.engine.learning import recommender_build
from personalization.engine.prod2vec import Prod2VecParams

TINY_PARAMS = Prod2VecParams(vector_size=8, epochs=3, negative=5, workers=1)


def test_compare_evaluates_every_method_in_order():
    log = two_groups_log(1000)
    results = recommenders_compare(
        log[:900], log[900:], params=TINY_PARAMS, config=RecommenderConfig(), k=5
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
        "linear-blend",
        "default",
    ]
    assert results.vocabulary > 0 and results.timings["training prod2vec"] >= 0
    results = results.metrics()
    assert {metrics.predictions for metrics in results.values()} == {300}
    assert all(metrics.k == 5 for metrics in results.values())


@pytest.mark.parametrize("vector_weight", [0.0, 0.05])
@pytest.mark.parametrize("ranked", [False, True])
def test_one_pass_over_the_recommenders_parts_ranks_as_each_method_alone(vector_weight, ranked):
    import dataclasses

    from personalization.engine.comparison import methods_ranks, methods_scorers
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
        ranker=built.ranker if ranked else None,
    )
    assert (model.ranker is not None) == ranked
    together = methods_ranks(model, train, test, k=5)
    alone = {
        name: next_item_ranks(scorer, test, k=5)
        for name, scorer in methods_scorers(model, train).items()
    }
    assert list(together) == list(alone)
    for name in alone:
        assert together[name].ranks.tolist() == alone[name].ranks.tolist(), name
    assert together["default"].metrics().hr > 0
