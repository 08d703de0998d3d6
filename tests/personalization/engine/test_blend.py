"""personalization.engine.blend: weights learned on validation predictions' candidates."""

import numpy as np

from personalization.engine.blend import _dense_top, blend_learn, candidates_gather
from personalization.engine.components import (
    ItemToItem,
    Repeats,
    SessionNeighbours,
    prefixes_encode,
    sessions_encode,
)
from personalization.engine.config import RecommenderConfig
from personalization.engine.evaluation import next_item_evaluate
from personalization.engine.learning import recommender_build
from personalization.engine.model import SessionRecommender

INDEX = {f"p{n}": n for n in range(40)}


def random_log(*, seed: int, sessions: int, products: int) -> list[list[str]]:
    """Walks that mostly step to the next product, sometimes jump or come back: every
    component has some evidence, none is exact."""
    rng = np.random.default_rng(seed)
    log = []
    for _ in range(sessions):
        product, walk = int(rng.integers(products)), []
        for _ in range(int(rng.integers(2, 8))):
            walk.append(f"p{product}")
            roll = rng.random()
            if roll < 0.6:
                product = (product + 1) % products
            elif roll < 0.8:
                product = int(rng.integers(products))
            else:
                product = int(walk[int(rng.integers(len(walk)))][1:])
        log.append(walk)
    return log


def components_score(parts):
    """What candidates_gather asks for: each fitted part's scores of a batch of prefixes."""

    def score(prefixes):
        encoded = prefixes_encode(prefixes, INDEX, half_life=1.0)
        return [part.scores(encoded) for part in parts.values()]

    return score


def fitted_parts(train):
    encoded = sessions_encode(train, INDEX)
    return {
        "neighbours": SessionNeighbours.fit(encoded, k=5),
        "transitions": ItemToItem.fit(encoded, window=2, directed=True, prior=1),
        "repeats": Repeats(),
    }


def test_candidate_metrics_equal_a_full_ranking_for_any_weights():
    log = random_log(seed=5, sessions=260, products=40)
    train, validation = log[:200], log[200:]
    parts = fitted_parts(train)
    names = list(parts)
    score = components_score(parts)
    # per_component=3: most true products are outside some component's top 3, so the bound
    # decides many of them
    candidates = candidates_gather(score, validation, INDEX, k=5, per_component=3)
    wide = candidates_gather(score, validation, INDEX, k=5, per_component=40)
    vectors = recommender_build(keyed(INDEX), [], RecommenderConfig(components=())).vectors
    for weights in ([1, 0, 0], [0, 1, 0], [0.2, 0.5, 0.3], [0.6, 0.1, 0.3]):
        config = RecommenderConfig(components=tuple(names), fallback=False)
        model = SessionRecommender(
            vectors, config, components=parts, weights=dict(zip(names, weights, strict=True))
        )
        exact = next_item_evaluate(model, validation, k=5)
        # a true product below the bound is counted a miss: never more hits than exact
        hr, mrr = candidates.metrics(weights)
        assert hr <= exact.hr + 1e-9 and mrr <= exact.mrr + 1e-9
        # with every product a candidate, the ranks are exact
        assert np.allclose(wide.metrics(weights), (exact.hr, exact.mrr), atol=1e-9)
    assert candidates.metrics([0.2, 0.5, 0.3])[0] < wide.metrics([0.2, 0.5, 0.3])[0]


def test_blend_learn_never_ends_below_its_start_and_sums_to_one():
    log = random_log(seed=8, sessions=260, products=40)
    parts = fitted_parts(log[:200])
    candidates = candidates_gather(components_score(parts), log[200:], INDEX, k=5)
    start = [1.0, 1.0, 1.0]
    weights, metrics = blend_learn(candidates, start)
    assert abs(sum(weights) - 1) < 1e-9
    assert sum(metrics) > sum(candidates.metrics([1 / 3] * 3))  # it learned something
    assert metrics == candidates.metrics(weights)


def keyed(index):
    from gensim.models import KeyedVectors

    vectors = KeyedVectors(vector_size=4)
    rng = np.random.default_rng(0)
    vectors.add_vectors(list(index), rng.normal(size=(len(index), 4)).astype(np.float32))
    return vectors


def test_a_dense_component_takes_part_with_its_exact_ranks():
    """The session vector enters the learning as a dense component (1 + cos): the candidates'
    metrics at any weights are those of the recommender blending it, ranked in full."""
    log = random_log(seed=11, sessions=260, products=40)
    train, validation = log[:200], log[200:]
    parts = fitted_parts(train)
    names = list(parts)
    vectors = recommender_build(keyed(INDEX), [], RecommenderConfig(components=())).vectors
    vector_only = SessionRecommender(vectors, RecommenderConfig(components=()))
    score = components_score(parts)

    def dense(prefixes):
        return 1 + np.asarray(vector_only.scores_batch(prefixes))

    candidates = candidates_gather(score, validation, INDEX, dense_score=dense, k=5)
    narrow = candidates_gather(score, validation, INDEX, dense_score=dense, k=5, per_component=3)
    config = RecommenderConfig(components=tuple(names))
    for weights in ([0.2, 0.5, 0.3, 0.0], [0.3, 0.3, 0.3, 0.1], [0.0, 0.0, 0.0, 1.0]):
        model = SessionRecommender(
            vectors,
            config,
            components=parts,
            weights=dict(zip([*names, "session-vector"], weights, strict=True)),
        )
        exact = next_item_evaluate(model, validation, k=5)
        if weights[-1] > 0:  # (without the vector, the fallback ranks what the learning cannot)
            assert np.allclose(candidates.metrics(weights), (exact.hr, exact.mrr), atol=1e-9)
        hr, mrr = narrow.metrics(weights)
        assert hr <= exact.hr + 1e-9 and mrr <= exact.mrr + 1e-9


def test_the_dense_top_finds_each_rows_best_and_its_bound_as_a_full_sort_would():
    """`_dense_top` looks for the best only among the columns beating a sample's: the same
    columns and bounds as a sort of every row, ties (scores rounded to a few values) included."""
    rng = np.random.default_rng(5)
    for columns, per in ((500, 7), (500, 60), (90, 10), (12, 20)):
        matrix = np.round(rng.random((30, columns)), 2).astype(np.float32)
        matrix[3] = 0.5  # one row all tied
        top, bound = _dense_top(matrix, per)
        for row in range(len(matrix)):
            ordered = np.sort(matrix[row])[::-1]
            expected_bound = ordered[per] if columns > per else 0
            assert bound[row] == expected_bound
            expected = (
                set(np.flatnonzero(matrix[row] > expected_bound))
                if columns > per
                else set(range(columns))
            )
            assert set(top[row][top[row] >= 0]) == expected


def test_blend_learn_varies_only_the_weights_it_is_told_to():
    """The session vector's weight is learned after the count components', theirs held."""
    log = random_log(seed=3, sessions=200, products=40)
    parts = fitted_parts(log[:150])
    candidates = candidates_gather(components_score(parts), log[150:], INDEX, k=5)
    free, _ = blend_learn(candidates, [1.0] * len(parts))
    held, _ = blend_learn(candidates, [1.0] * len(parts), vary=[0])
    assert free != [1 / len(parts)] * len(parts)  # left free, the weights move here
    # held: only the first moved; the others stay equal to each other
    assert len(set(held[1:])) == 1
