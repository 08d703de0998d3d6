"""`analogy_answers`: "a is to b as c is to ?" over vectors."""

import numpy as np
import pytest
from gensim.models import KeyedVectors

from personalization.engine.analogies import analogy_answers


def _vectors(points: dict[str, tuple[float, float, float]]) -> KeyedVectors:
    vectors = KeyedVectors(vector_size=3)
    vectors.add_vectors(list(points), np.array(list(points.values()), dtype=np.float32))
    return vectors


# Two audiences (first axis) of two kinds (second axis, third axis).
SPACE = {
    "men-shoe": (1.0, 1.0, 0.0),
    "women-shoe": (-1.0, 1.0, 0.0),
    "men-jacket": (1.0, 0.0, 1.0),
    "women-jacket": (-1.0, 0.0, 1.0),
    "women-jacket-2": (-0.9, 0.0, 1.0),
    "kids-hat": (0.0, -1.0, -1.0),
}


def test_the_answer_is_cs_kind_for_bs_audience_and_the_terms_are_never_answers():
    answers = analogy_answers(_vectors(SPACE), "men-shoe", "women-shoe", "men-jacket", limit=3)
    assert [sku for sku, _ in answers[:2]] == ["women-jacket", "women-jacket-2"]
    assert not {"men-shoe", "women-shoe", "men-jacket"} & {sku for sku, _ in answers}
    assert answers[0][1] >= answers[1][1] >= answers[2][1]


def test_a_kind_of_several_keys_stands_for_their_mean_and_none_of_them_answers():
    answers = analogy_answers(
        _vectors(SPACE), "men-shoe", "women-shoe", ["men-jacket", "women-jacket-2"], limit=10
    )
    assert answers[0][0] == "women-jacket"
    assert "women-jacket-2" not in {sku for sku, _ in answers}


def test_a_key_the_vectors_do_not_hold_is_named():
    with pytest.raises(KeyError, match="no-such"):
        analogy_answers(_vectors(SPACE), "men-shoe", "no-such", "men-jacket")
