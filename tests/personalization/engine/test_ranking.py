"""personalization.engine.ranking: the components' candidates re-ordered by a learned ranker."""

import subprocess
import sys

import numpy as np
import pytest
from factories import keyed_vectors

from personalization.engine.comparison import methods_ranks
from personalization.engine.config import RecommenderConfig
from personalization.engine.evaluation import next_item_ranks
from personalization.engine.learning import recommender_build
from personalization.engine.model import SessionRecommender
from personalization.engine.persistence import recommender_load, recommender_save
from personalization.engine.ranking import group_places

PRODUCTS = [f"p{i}" for i in range(30)]


def switching_log(count: int, seed: int = 5) -> list[list[str]]:
    """Two kinds of shoppers over the same products: half go back and forth between two of
    them (their next view is the one before last), half browse six different ones at random.
    No product or pair tells them apart: only how the session has gone so far does."""
    rng = np.random.default_rng(seed)
    log = []
    for number in range(count):
        if number % 2:
            first, second = rng.choice(PRODUCTS, size=2, replace=False)
            log.append([first, second] * 3)
        else:
            log.append(list(rng.choice(PRODUCTS, size=6, replace=False)))
    return log


def built(log) -> SessionRecommender:
    rng = np.random.default_rng(1)
    vectors = keyed_vectors({sku: tuple(rng.normal(size=4)) for sku in PRODUCTS})
    return recommender_build(vectors, log, RecommenderConfig())


@pytest.fixture(scope="module")
def switching():
    log = switching_log(1400)
    return built(log[:1200]), log[1200:]


def test_the_ranker_learns_what_no_linear_blend_can_the_session_decides_repeat_or_explore(
    switching,
):
    recommender, test = switching
    assert recommender.ranker is not None
    learning = recommender.learning
    assert learning["ranker_mrr"] > learning["blend_mrr"]
    assert learning["switch_auc"] > 0.9  # a back-and-forth session is told from a browsing one
    ranks = methods_ranks(recommender, [], test, k=20)
    repeat = ranks["default"].groups()["repeat"]
    blend = ranks["linear-blend"].groups()["repeat"]
    # the blend puts the latest view first, whose weight no session changes; the ranker puts
    # the one before it first in a back-and-forth session
    assert blend.mrr <= 0.6
    assert repeat.mrr >= 0.95
    assert ranks["default"].metrics().mrr > ranks["linear-blend"].metrics().mrr


def test_the_scores_of_a_ranked_recommender_rank_as_its_evaluation_does(switching):
    recommender, test = switching

    class DenseScores:  # the shop's path: every product scored, then sorted
        items = recommender.items

        def scores_batch(self, prefixes):
            return recommender.scores_batch(prefixes)

    assert (
        next_item_ranks(DenseScores(), test, k=20).ranks.tolist()
        == next_item_ranks(recommender, test, k=20).ranks.tolist()
    )


def test_a_visitor_going_back_and_forth_is_recommended_the_one_before_last(switching):
    recommender, _ = switching
    back_and_forth = ["p3", "p7", "p3", "p7"]
    assert recommender.recommend(back_and_forth, k=3)[0][0] == "p3"
    plain = SessionRecommender(
        recommender.vectors,
        recommender.config,
        components=recommender.components,
        weights=recommender.weights,
    )
    assert plain.recommend(back_and_forth, k=3)[0][0] == "p7"


def test_a_saved_ranked_recommender_loads_and_recommends_the_same(switching, tmp_path):
    recommender, test = switching
    recommender_save(recommender, tmp_path / "model")
    assert (tmp_path / "model" / "ranker.txt").is_file()
    loaded = recommender_load(tmp_path / "model")
    assert loaded.ranker is not None
    for prefix in [session[:3] for session in test[:20]]:
        assert loaded.recommend(prefix, k=10) == recommender.recommend(prefix, k=10)


def test_too_few_validation_predictions_learn_no_ranker_and_the_blend_orders():
    recommender = built(switching_log(100))
    assert recommender.ranker is None
    assert recommender.learning["ranker_useful_predictions"] < 100


def test_a_ranker_that_does_not_beat_the_blend_on_its_held_out_part_is_not_kept():
    # every shopper browses at random: nothing for a ranker to learn that the blend lacks
    rng = np.random.default_rng(2)
    log = [list(rng.choice(PRODUCTS, size=6, replace=False)) for _ in range(1200)]
    recommender = built(log)
    learning = recommender.learning
    assert (recommender.ranker is None) == (learning["ranker_mrr"] < learning["blend_mrr"])


def test_group_places_orders_each_group_by_value_highest_first():
    values = np.asarray([0.1, 0.5, 0.3, -2.0, 7.0, 7.5])
    owner = np.asarray([0, 0, 0, 1, 1, 1])
    assert group_places(values, owner, np.asarray([3, 3])).tolist() == [3, 1, 2, 3, 2, 1]


def test_lightgbm_is_imported_without_scikit_learn_which_stays_importable():
    script = (
        "import sys\n"
        "from personalization.engine.ranking import lightgbm\n"
        "lightgbm()\n"
        "print('sklearn' in sys.modules)\n"
        "import sklearn.base\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.split() == ["False", "ok"], done.stderr


def test_equal_values_share_a_place_and_close_ones_keep_their_order():
    # as a true item's rank counts them (1 + the candidates above it): the shop's order and
    # its evaluation agree on a tie; values apart by less than the groups' count could scale
    # away stay apart
    owner = np.repeat(np.arange(2000), 3)
    values = np.tile([0.5, 0.5, 0.2], 2000)
    values[-3:] = [1.0 + 1e-12, 1.0, 0.0]
    places = group_places(values, owner, np.full(2000, 3))
    assert places[:3].tolist() == [1, 1, 3]
    assert places[-3:].tolist() == [1, 2, 3]
