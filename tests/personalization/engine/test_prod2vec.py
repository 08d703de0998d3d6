"""personalization.engine.prod2vec: parameters and training on a streamed corpus."""

import math

import numpy as np
import pytest

from personalization.engine.prod2vec import SEED_PARAMS, Prod2VecParams, prod2vec_train

SMALL = Prod2VecParams(
    vector_size=8, window=3, epochs=8, min_count=1, negative=5, sample=0.0, workers=1
)
GROUPS = [[f"RUN-{i}" for i in range(6)], [f"HIK-{i}" for i in range(6)]]


class CountingCorpus:
    """Re-iterable sessions that count how often they are read (and are not a list)."""

    def __init__(self, sessions):
        self.sessions = sessions
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        yield from (tuple(skus) for skus in self.sessions)


def two_groups(count=300, *, seed=5):
    """Sessions that stay within one of two groups of products."""
    rng = np.random.default_rng(seed)
    return [list(rng.choice(GROUPS[n % 2], size=5)) for n in range(count)]


def test_training_puts_products_viewed_together_nearer():
    vectors = prod2vec_train(two_groups(), SMALL).vectors
    for group, other in (GROUPS, GROUPS[::-1]):
        for sku in group:
            same = np.mean([vectors.similarity(sku, peer) for peer in group if peer != sku])
            across = np.mean([vectors.similarity(sku, stranger) for stranger in other])
            assert same > across + 0.3, sku
            assert {peer for peer, _ in vectors.most_similar(sku, topn=5)} <= set(group), sku


def test_on_epoch_reports_each_epoch_once_with_its_loss():
    calls = []
    trained = prod2vec_train(two_groups(), SMALL, on_epoch=lambda *call: calls.append(call))
    assert [(epoch, epochs) for epoch, epochs, _ in calls] == [(n, 8) for n in range(1, 9)]
    assert [loss for _, _, loss in calls] == trained.losses
    assert all(math.isfinite(loss) and loss > 0 for loss in trained.losses)
    # each epoch's own loss, not gensim's running total (which only grows): training lowers it
    assert trained.losses[-1] < 0.9 * trained.losses[0]


def test_corpus_is_streamed_once_for_the_vocabulary_then_once_per_epoch():
    corpus = CountingCorpus(two_groups(60))
    vectors = prod2vec_train(corpus, SMALL).vectors
    assert corpus.passes == 1 + SMALL.epochs
    assert set(vectors.index_to_key) == set(GROUPS[0] + GROUPS[1])


def test_a_one_shot_iterator_is_refused():
    with pytest.raises(TypeError, match="re-iterable"):
        prod2vec_train(iter(two_groups(10)), SMALL)


def test_single_view_sessions_are_skipped():
    sessions = two_groups(60) + [["ALONE"]] * 5
    vectors = prod2vec_train(sessions, SMALL).vectors
    assert "ALONE" not in vectors.key_to_index


def test_no_product_with_enough_views_is_a_clear_error():
    with pytest.raises(ValueError, match="min_count"):
        prod2vec_train([["a", "b"]], Prod2VecParams(min_count=5, epochs=1, workers=1))


def test_params_round_trip_and_reject_unknown_keys():
    params = Prod2VecParams(vector_size=32, sg=True, ns_exponent=-0.5)
    assert Prod2VecParams.from_dict(params.as_dict()) == params
    assert Prod2VecParams.from_dict({"epochs": 3}) == Prod2VecParams(epochs=3)
    with pytest.raises(ValueError, match="unknown Prod2VecParams key.*size"):
        Prod2VecParams.from_dict({"size": 50, "epochs": 3})
    with pytest.raises(ValueError, match="vector_size"):
        Prod2VecParams(vector_size=0)


def test_seed_params_are_the_seed_notebooks():
    assert (SEED_PARAMS.sg, SEED_PARAMS.vector_size, SEED_PARAMS.window) == (False, 50, 3)
    assert (SEED_PARAMS.min_count, SEED_PARAMS.epochs) == (10, 20)


def test_later_sessions_are_trained_on_after_a_copy_of_the_vectors_is_kept():
    calls = []
    earlier = CountingCorpus(two_groups(200))
    later = CountingCorpus([["NEW-1", "RUN-0", "NEW-2"]] * 30 + two_groups(30, seed=6))
    trained = prod2vec_train(earlier, SMALL, later=later, on_epoch=lambda *call: calls.append(call))
    before, after = trained.vectors_before_later, trained.vectors
    # the products first seen later join the vocabulary; the copy of before never saw them
    assert "NEW-1" in after.key_to_index and "NEW-1" not in before.key_to_index
    assert set(before.index_to_key) == set(GROUPS[0] + GROUPS[1])
    assert not np.allclose(before["RUN-0"], after["RUN-0"])  # trained on again
    assert after.similarity("NEW-1", "NEW-2") > after.similarity("NEW-1", "HIK-0")
    # one pass each for the vocabulary, then the epochs of each, counted across both
    assert (earlier.passes, later.passes) == (1 + SMALL.epochs, 1 + SMALL.epochs)
    assert [(epoch, epochs) for epoch, epochs, _ in calls] == [(n, 16) for n in range(1, 17)]
    assert len(trained.losses) == 16 and all(loss > 0 for loss in trained.losses)
    assert prod2vec_train(two_groups(), SMALL).vectors_before_later is None


def test_losses_are_per_view_so_a_later_pass_over_fewer_sessions_does_not_step_down():
    """The admin's loss chart shows both passes in a row: as totals, the later pass's epochs
    (a tenth of the views here) would drop to a tenth."""
    trained = prod2vec_train(two_groups(300), SMALL, later=two_groups(30, seed=6))
    last_earlier, later = trained.losses[SMALL.epochs - 1], trained.losses[SMALL.epochs :]
    assert all(0.5 * last_earlier < loss < 2 * last_earlier for loss in later)


def test_the_later_pass_goes_on_at_the_learning_rate_one_training_would_have_reached(
    monkeypatch,
):
    """Restarting at alpha unsettled the space the earlier pass had learned (the sample shop's
    analogies); the later pass instead starts where a linear decay over all the words would be
    after the earlier ones."""
    from gensim.models import Word2Vec

    rates = []
    train = Word2Vec.train

    def recording(model, *args, **kwargs):
        rates.append(kwargs.get("start_alpha") or model.alpha)
        return train(model, *args, **kwargs)

    monkeypatch.setattr(Word2Vec, "train", recording)
    earlier, later = two_groups(300), two_groups(100, seed=6)
    prod2vec_train(earlier, SMALL, later=later)
    words = [sum(len(skus) for skus in corpus) for corpus in (earlier, later)]
    share = words[0] / sum(words)  # every session of two_groups has two views or more
    assert rates[0] == SMALL.alpha
    assert rates[1] == pytest.approx(SMALL.alpha - (SMALL.alpha - SMALL.min_alpha) * share)
