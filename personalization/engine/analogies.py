""" "a is to b as c is to ?" over product (or word) vectors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gensim.models import KeyedVectors


def analogy_answers(
    vectors: KeyedVectors,
    a: str | Sequence[str],
    b: str | Sequence[str],
    c: str | Sequence[str],
    *,
    limit: int = 10,
) -> list[tuple[str, float]]:
    """The `limit` best answers to "`a` is to `b` as `c` is to ?", with their scores.

    Each term is a key, or several (a kind of product): several stand for the mean of their
    unit vectors, which is what the kind has in common and not what one product's sessions
    happened to add. Multiplicative cosine (gensim's `most_similar_cosmul`, Levy and Goldberg
    2014): each candidate must be near `b` and `c` and far from `a` at once, where the additive
    form (b - a + c) lets one large similarity carry an answer that is near only `c`. The terms
    are never answers, all of a kind's keys included: "men's rain jacket" is the question, not
    an answer to it. KeyError names a key the vectors do not hold.
    """
    terms = [(term,) if isinstance(term, str) else tuple(term) for term in (a, b, c)]
    for keys in terms:
        for key in keys or ("",):
            if key not in vectors.key_to_index:
                raise KeyError(key)
    means = [vectors.get_mean_vector(keys, post_normalize=True) for keys in terms]
    scores = vectors.most_similar_cosmul(positive=means[1:], negative=means[:1], topn=None)
    asked = {vectors.key_to_index[key] for keys in terms for key in keys}
    best = np.argsort(-scores, kind="stable")[: limit + len(asked)]
    found = [(vectors.index_to_key[i], float(scores[i])) for i in best if i not in asked]
    return found[:limit]
