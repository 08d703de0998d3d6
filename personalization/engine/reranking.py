"""Personalized search: the search backend's top results re-ranked against the visitor's
session vector, each able to say which viewed product it resembles.

score = (1 - weight) * text + weight * cosine(session vector, product vector), where `text` is
the backend's relevance min-max normalized within the window (best 1, worst 0). Min-max, not a
division by the best score: relevance has an offset (a BM25-like score of the sample shop's top
400 "shoes" spans 0.87-1.06), so divided by the best it would only move within 0.82-1 and text
would have almost no say; min-max gives it the cosine's range, so the weight means the same for
every query and backend. The price, stretching near-ties, is bounded by 1 - weight.
Weight 1 is the seed's pure cosine re-rank; weight 0 the plain order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter
from typing import Any, Protocol

import numpy as np

from .recommender import SessionRecommender

# When a result names the viewed product it resembles most (cosine of the two vectors). On the
# sample shop's model, pairs of one category and audience have a median cosine of 0.53, pairs of
# one activity 0.36, unrelated pairs a 90th percentile of 0.17. So a result that moved up names
# a product at least "of its activity"; one that did not, only a product "of its kind".
BECAUSE_MOVED_MIN = 0.25
BECAUSE_NOTABLE = 0.5
_SKU, _SCORE, _SIMILARITY = attrgetter("sku"), attrgetter("score"), attrgetter("similarity")


class SearchHit(Protocol):
    """What a search backend returns: best first. `similarity` (optional) is the cosine to the
    session vector when the backend re-scored server-side."""

    sku: str
    score: float


@dataclass
class RankedResult:
    sku: str
    text_score: float  # the backend's relevance, as it gave it
    similarity: float | None  # cosine to the session vector; None: no vector or no session
    score: float  # the blend the results are ordered by (text alone when no similarity)
    because: str | None  # the viewed SKU it resembles most, when that explains it (see below)
    plain_position: int  # 0-based, in the backend's order
    position: int  # 0-based, after re-ranking
    hit: Any = field(default=None, repr=False, compare=False)  # the backend's own object

    @property
    def moved_up(self) -> int:
        """How many places it rose (negative: fell)."""
        return self.plain_position - self.position


def results_rerank(
    hits: Iterable[SearchHit],
    *,
    session_vector: np.ndarray | None,
    recommender: SessionRecommender | None,
    weight: float,
    viewed_skus: Sequence[str] = (),
    limit: int | None = None,
) -> list[RankedResult]:
    """`hits` (best first) in their personalized order; with `limit`, only the first `limit`
    of it (all of `hits` are still ranked: only fewer results are built and explained).

    Products with a similarity (from the backend, or from `recommender`'s vectors) are ranked
    among themselves by the blend and fill the slots they held; the others keep their slots,
    as there is nothing to compare them on. Without a session vector (cold start), or when it
    does not fit the model (a version changed mid-request), the order is the backend's.

    `because` names, among `viewed_skus` other than the result itself, the one whose vector is
    most similar to the result's, when that cosine is at least BECAUSE_NOTABLE, or at least
    BECAUSE_MOVED_MIN for a result that moved up: the product a shopper would recognise it as
    "like", which is not always the recency-weighted largest contribution to the similarity (a
    shoe viewed three views ago explains a shoe better than the shorts viewed since).
    """
    if not 0 <= weight <= 1:
        raise ValueError(f"the re-rank weight must be between 0 and 1, not {weight!r}")
    hits = list(hits)
    count = len(hits)
    shown = count if limit is None else max(0, min(limit, count))
    # Whole-window work is done on arrays: a Python step per result of a 200-result window
    # would cost more than the re-rank itself.
    text = np.fromiter(map(_SCORE, hits), dtype=np.float64, count=count)
    text_norm = _scores_normalize(text)
    vectors = _vectors_of(recommender)
    if (
        count == 0
        or session_vector is None
        or (vectors is not None and session_vector.shape != (vectors.shape[1],))
    ):
        texts, norms = text[:shown].tolist(), text_norm[:shown].tolist()
        return [
            RankedResult(hit.sku, texts[i], None, norms[i], None, i, i, hit)
            for i, hit in enumerate(hits[:shown])
        ]

    index = recommender.index if recommender is not None else {}
    if vectors is None:  # no model: only similarities the engine gave count
        vectors = np.zeros((0, len(session_vector)), dtype=np.float32)
    codes = np.fromiter(map(index.get, map(_SKU, hits), repeat(-1)), dtype=np.int64, count=count)
    given = _similarities_given(hits)
    viewed = [sku for sku in dict.fromkeys(viewed_skus) if sku in index]
    viewed_codes = np.array([index[sku] for sku in viewed], dtype=np.int64)
    # One product for all: each result against the session vector and each viewed product.
    probes = np.vstack([session_vector[None, :], vectors[viewed_codes]])
    if given is None and codes.min() >= 0:
        # The common case, in fewer array steps (each costs 10-20 us once the search has left
        # the CPU caches cold): every result has a vector and the engine re-scored none.
        with_vector = np.arange(count)
        table = vectors[codes] @ probes.T
        similarity = table[:, 0].astype(np.float64)
        score = (1 - weight) * text_norm + weight * similarity
        order = np.argsort(-score, kind="stable")  # best first; ties keep the plain order
        position = np.empty(count, dtype=np.int64)
        position[order] = with_vector
    else:
        similarity = np.full(count, np.nan) if given is None else given
        with_vector = np.flatnonzero(codes >= 0)
        table = vectors[codes[with_vector]] @ probes.T
        computed = similarity[with_vector]
        similarity[with_vector] = np.where(np.isnan(computed), table[:, 0], computed)
        known = ~np.isnan(similarity)
        score = np.where(known, (1 - weight) * text_norm + weight * similarity, text_norm)
        # Results without a similarity keep their slots; the others are ranked among themselves.
        slots = np.flatnonzero(known)
        ranked = slots[np.lexsort((slots, -score[slots]))]  # best first; ties keep plain order
        position = np.arange(count)
        position[ranked] = slots
        order = np.empty(count, dtype=np.int64)
        order[position] = np.arange(count)  # order[at]: the plain position of the result at `at`
    cosines = table[:, 1:]
    because: dict[int, str] = {}
    if len(viewed) and len(with_vector):
        in_view = position[with_vector] < shown  # only the results that will be built
        _because_fill(
            because,
            cosines=cosines[in_view],
            rows=with_vector[in_view],
            row_codes=codes[with_vector][in_view],
            viewed=viewed,
            viewed_codes=viewed_codes,
            position=position,
        )
    # Plain Python values first: reading numpy arrays element by element would cost more than
    # the whole re-rank.
    plains = order[:shown].tolist()
    texts = text[plains].tolist()
    similarities = similarity[plains].tolist()
    scores = score[plains].tolist()
    return [
        RankedResult(
            sku=hits[plain].sku,
            text_score=relevance,
            similarity=None if math.isnan(cosine) else cosine,
            score=blended,
            because=because.get(plain),
            plain_position=plain,
            position=at,
            hit=hits[plain],
        )
        for at, (plain, relevance, cosine, blended) in enumerate(
            zip(plains, texts, similarities, scores, strict=True)
        )
    ]


def _similarities_given(hits: list[SearchHit]) -> np.ndarray | None:
    """The backend's own cosines (a server-side re-rank's), NaN where it gave none; None when
    it gave none at all."""
    try:
        given = list(map(_SIMILARITY, hits))  # in C: a Python step per hit costs 50 us
    except AttributeError:  # hits of a backend that never re-scores
        return None
    if given.count(None) == len(given):
        return None
    return np.array(given, dtype=np.float64)  # None becomes NaN


def _vectors_of(recommender: SessionRecommender | None) -> np.ndarray | None:
    # A plain ndarray view of the memory-mapped rows: np.memmap's subclass hooks cost more than
    # gathering 50 rows.
    return np.asarray(recommender.vectors.vectors) if recommender is not None else None


def _scores_normalize(scores: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1]; all equal (or a single hit): all 1, text does not discriminate."""
    if not len(scores):
        return scores.copy()
    low, high = scores.min(), scores.max()
    if not high - low > 0 or not math.isfinite(high - low):
        return np.ones_like(scores)
    return (scores - low) / (high - low)


def _because_fill(
    because: dict[int, str],
    *,
    cosines: np.ndarray,
    rows: np.ndarray,
    row_codes: np.ndarray,
    viewed: list[str],
    viewed_codes: np.ndarray,
    position: np.ndarray,
) -> None:
    """Set `because[row]` for the results (`rows`, with their cosine to each viewed product)
    that the most similar viewed product explains."""
    cosines = cosines.copy()
    cosines[row_codes[:, None] == viewed_codes[None, :]] = -np.inf  # not "like itself"
    best = cosines.argmax(axis=1)
    best_cosine = cosines[np.arange(len(rows)), best]
    needed = np.where(position[rows] < rows, BECAUSE_MOVED_MIN, BECAUSE_NOTABLE)
    for row in np.flatnonzero(best_cosine >= needed).tolist():
        because[int(rows[row])] = viewed[best[row]]
