"""Personalized search: the search backend's top results re-ranked against the visitor's
session vector, each able to say which viewed product it resembles.

score = text / best text + weight * cosine(session vector, product vector).

Text is taken relative to the window's best match, so the weight is a reach in units of the
best match's relevance: a result can pass another only when its text score is lower by less
than weight * (its cosine - the other's). Cosines of unit vectors differ by at most 2, so
personalization re-orders products of comparable relevance (names of one template, which
score within a few percent of each other) and never lifts a weak or partial match, one
scoring below (1 - 2 * weight) of a stronger one, above it: a near miss ("sheos") stays below
every exact match, a product matching one field below those matching two (docs/tuning.md
says why not min-max normalisation within the window).

Only a result that can be explained is lifted (a product the visitor viewed, or one at least
BECAUSE_MIN like one they viewed), and only by a positive cosine: nothing moves up that does
not say why. Weight 0 is the plain order.

Strength (0..1) bounds how far the blend may move a result up, as Algolia's personalization
impact does: n ** strength - 1 places at most (rounded), n the results ranked (for 200:
3, 13, 52 places at 0.25, 0.5, 0.75), each slot taking the best by the blend of those within
reach. The reach grows geometrically, as places count on a log scale (nDCG's discount): each
step of the dial changes the first page. A pair in one order at both ends keeps it at every
strength, so both properties above hold at each step; 0 is exactly the plain order and 1 the
blend's (docs/tuning.md, "The strength dial", says why not a scaled weight or interpolated
ranks).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import Protocol

import numpy as np

from .model import SessionRecommender

# "Because you viewed X" names the viewed product most like the result, when their cosine is at
# least BECAUSE_MIN: above what unrelated products reach, below what products of one activity
# share (docs/tuning.md, "Search re-ranking"). Viewed products within BECAUSE_TIE of the most
# alike are as good a reason: the least named so far is named, so that a page of one activity
# does not cite one product ten times.
BECAUSE_MIN = 0.3
BECAUSE_TIE = 0.05
_SKU, _SCORE, _SIMILARITY = attrgetter("sku"), attrgetter("score"), attrgetter("similarity")


class SearchHit(Protocol):
    """What a search backend returns: best first. `similarity` (optional) is the cosine to the
    session vector when the backend re-scored server-side."""

    sku: str
    score: float


@dataclass(slots=True)
class RankedResult:
    sku: str
    text_score: float  # the backend's relevance, as it gave it
    similarity: float | None  # cosine to the session vector; None: no vector or no session
    score: float  # the blend the results are ordered by (text alone when no similarity)
    because: str | None  # a viewed SKU it resembles, when it moved up (see results_rerank)
    plain_position: int  # 0-based, in the backend's order
    position: int  # 0-based, after re-ranking
    viewed: bool = False  # the visitor viewed it: its own reason ("You viewed this")

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
    strength: float = 1.0,
    viewed_skus: Sequence[str] = (),
    limit: int | None = None,
    window: RerankWindow | None = None,
) -> list[RankedResult]:
    """`hits` (best first) in their personalized order; with `limit`, only the first `limit`
    of it (all of `hits` are still ranked: only fewer results are built and explained).

    Products with a similarity (from the backend, or from `recommender`'s vectors) are ranked
    among themselves by the blend and fill the slots they held; the others keep their slots,
    as there is nothing to compare them on. Without a session vector (cold start), or when it
    does not fit the model (a version changed mid-request), the order is the backend's.
    `strength` (0..1) moves each result that part of the way from its plain rank to its
    blended one (see the module's notes).

    `viewed` marks the products among `viewed_skus`. A result that moved up and was not viewed
    has a `because`: among `viewed_skus` other than itself, the one most like it (highest
    cosine, at least BECAUSE_MIN; near ties go to the one named least so far, down the
    results). A result that did not move up needs no reason and has none.

    `window`: `RerankWindow(hits, recommender)`, when the caller kept it from an earlier
    request for the same answer and model (it is all the work that does not depend on the
    visitor).
    """
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"the re-rank weight must be a number >= 0, not {weight!r}")
    if not (math.isfinite(strength) and 0 <= strength <= 1):
        raise ValueError(f"the re-rank strength must be a number from 0 to 1, not {strength!r}")
    if session_vector is None and window is None:
        return _plain_order(list(hits), limit)
    if window is None:
        window = RerankWindow(hits, recommender)
    hits, count = window.hits, window.count
    shown = count if limit is None else max(0, min(limit, count))
    text, text_norm, vectors = window.text, window.text_norm, window.vectors
    if (
        count == 0
        or session_vector is None
        or (vectors is not None and session_vector.shape != (vectors.shape[1],))
    ):
        texts, norms = text[:shown].tolist(), text_norm[:shown].tolist()
        return [
            RankedResult(hit.sku, texts[i], None, norms[i], None, i, i)
            for i, hit in enumerate(hits[:shown])
        ]

    index = recommender.index if recommender is not None else {}
    if vectors is None:  # no model: only similarities the engine gave count
        vectors = np.zeros((0, len(session_vector)), dtype=np.float32)
    given = window.given
    viewed = [sku for sku in dict.fromkeys(viewed_skus) if sku in index]
    viewed_codes = np.array([index[sku] for sku in viewed], dtype=np.int64)
    # One product for all: each result against the session vector and each viewed product.
    probes = np.empty((1 + len(viewed_codes), len(session_vector)), dtype=np.float32)
    probes[0] = session_vector
    probes[1:] = vectors[viewed_codes]
    if given is None and window.all_known:
        # The common case, in as few array steps as it takes (each costs a few microseconds,
        # more once the search has left the CPU caches cold): every result has a vector and
        # the engine re-scored none.
        table = window.rows @ probes.T
        similarity = table[:, 0].astype(np.float64)
        likeness = table[:, 1:].astype(np.float64)
        viewed_at = window.viewed_at(viewed)
        explained = _explained(likeness, viewed_at)
        score = text_norm + np.where(explained, weight * np.maximum(similarity, 0.0), 0.0)
        ranked = np.argsort(-score, kind="stable")  # best first; ties keep the plain order
        order = _dialled(ranked, strength, shown)  # only the shown are built
    else:
        similarity = np.full(count, np.nan) if given is None else given.copy()
        with_vector = window.with_vector
        rows = window.rows
        if rows.shape[1] != len(session_vector):  # no model: no product has a vector here
            rows = np.zeros((len(with_vector), len(session_vector)), dtype=np.float32)
        table = rows @ probes.T
        computed = similarity[with_vector]
        similarity[with_vector] = np.where(np.isnan(computed), table[:, 0], computed)
        likeness = np.full((count, len(viewed)), -np.inf)
        likeness[with_vector] = table[:, 1:]
        positions = {hit.sku: at for at, hit in enumerate(hits)}
        viewed_at = [(positions[sku], j) for j, sku in enumerate(viewed) if sku in positions]
        explained = _explained(likeness, viewed_at)
        known = ~np.isnan(similarity)
        lift = np.where(explained, weight * np.maximum(np.nan_to_num(similarity), 0.0), 0.0)
        score = np.where(known, text_norm + lift, text_norm)
        # Results without a similarity keep their slots; the others are ranked among themselves.
        slots = np.flatnonzero(known)
        ranked = slots[np.lexsort((slots, -score[slots]))]  # best first; ties keep plain order
        position = np.arange(count)
        position[_dialled(ranked, strength)] = slots
        order = np.empty(count, dtype=np.int64)
        order[position] = np.arange(count)  # order[at]: the plain position of the result at `at`
    # Plain Python values first: reading numpy arrays element by element would cost more than
    # the whole re-rank.
    plains = order[:shown].tolist()
    texts = text[plains].tolist()
    similarities = similarity[plains].tolist()
    scores = score[plains].tolist()
    own = dict(viewed_at)  # result row -> its column among the viewed
    reasons = _reasons(likeness, plains, own, [at < plain for at, plain in enumerate(plains)])
    return [
        RankedResult(
            sku=hits[plain].sku,
            text_score=relevance,
            similarity=None if math.isnan(cosine) else cosine,
            score=blended,
            because=viewed[name] if name >= 0 else None,
            plain_position=plain,
            position=at,
            viewed=plain in own,
        )
        for at, (plain, name, relevance, cosine, blended) in enumerate(
            zip(plains, reasons, texts, similarities, scores, strict=True)
        )
    ]


class RerankWindow:
    """What re-ranking a window of hits with one model needs, whoever the visitor: the text
    scores, the products' codes and their vectors gathered into one contiguous matrix. Worth
    keeping per search answer and model (personalization.serving keeps them): gathering rows of
    a memory-mapped matrix is the costliest step of a re-rank."""

    def __init__(self, hits: Iterable[SearchHit], recommender: SessionRecommender | None):
        self.hits = list(hits)
        self.count = count = len(self.hits)
        # Whole-window work is done on arrays: a Python step per result of a 200-result window
        # would cost more than the re-rank itself.
        self.text = np.fromiter(map(_SCORE, self.hits), dtype=np.float64, count=count)
        self.text_norm = _scores_relative(self.text)
        self.vectors = _vectors_of(recommender)
        index = recommender.index if recommender is not None else {}
        self.codes = np.fromiter(
            map(index.get, map(_SKU, self.hits), repeat(-1)), dtype=np.int64, count=count
        )
        self.given = _similarities_given(self.hits)
        self.positions: dict[str, int] | None = None  # SKU -> where it is, when first asked
        self.all_known = bool(count) and int(self.codes.min()) >= 0
        self.with_vector = np.flatnonzero(self.codes >= 0)
        if self.vectors is None or not count:
            self.rows = np.zeros((len(self.with_vector), 0), dtype=np.float32)
        else:
            self.rows = np.ascontiguousarray(self.vectors[self.codes[self.with_vector]])

    def viewed_at(self, viewed: list[str]) -> list[tuple[int, int]]:
        """(row, column) of each of `viewed` that is in the window: its row, its column."""
        if self.positions is None:
            self.positions = {hit.sku: at for at, hit in enumerate(self.hits)}
        positions = self.positions
        return [(positions[sku], j) for j, sku in enumerate(viewed) if sku in positions]


def _plain_order(hits: list[SearchHit], limit: int | None) -> list[RankedResult]:
    """The backend's order, scored as `_scores_relative` scores it, in plain Python: a page of
    a plain search (most searches) costs less without array steps."""
    shown = hits if limit is None else hits[: max(0, limit)]
    if not shown:
        return []
    best = max(map(_SCORE, hits))
    if not (math.isfinite(best) and best > 0):
        norms = [1.0] * len(shown)
    else:
        norms, running = [], 1.0
        for hit in shown:
            relative = min(max(float(hit.score) / best, 0.0), 1.0)
            running = min(running, relative)
            norms.append(running)
    return [
        RankedResult(hit.sku, float(hit.score), None, norm, None, i, i)
        for i, (hit, norm) in enumerate(zip(shown, norms, strict=True))
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


def _scores_relative(scores: np.ndarray) -> np.ndarray:
    """Each score over the best (the best is 1), and never above a result before it: the
    engine's order is the text ranking (an engine may order near-ties its own way, as the
    built-in one mixes categories), so without a lift the plain order stands. When the best is
    not a positive finite number, all 1: text does not discriminate."""
    if not len(scores):
        return scores.copy()
    best = scores.max()
    if not (math.isfinite(best) and best > 0):
        return np.ones_like(scores)
    return np.minimum.accumulate(np.clip(scores / best, 0.0, 1.0))


def _dialled(ranked: np.ndarray, strength: float, needed: int | None = None) -> np.ndarray:
    """`ranked` (plain positions, in the blend's order) with no result more than
    round(len(ranked) ** strength) - 1 places above its plain rank among them: each slot in
    turn takes, of the results within reach of it, the best in the blend. With `needed`, only
    the first `needed` of that order."""
    count = len(ranked)
    if strength >= 1 or count < 2:
        return ranked
    reach = round(count**strength) - 1
    blended = np.empty(count, dtype=np.int64)  # by plain rank: the rank in the blend
    blended[np.searchsorted(np.sort(ranked), ranked)] = np.arange(count)
    blended_list = blended.tolist()
    waiting: list[int] = []
    chosen = []
    for slot in range(count if needed is None else min(needed, count)):
        for plain in range(slot + reach if slot else 0, min(slot + reach + 1, count)):
            heapq.heappush(waiting, blended_list[plain])
        chosen.append(heapq.heappop(waiting))
    return ranked[chosen]


def _explained(likeness: np.ndarray, viewed_at: list[tuple[int, int]]) -> np.ndarray:
    """Which results may be lifted: each viewed product (its own reason), and each result at
    least BECAUSE_MIN like a viewed product other than itself. `likeness`: a row of cosines to
    the viewed products per result; `viewed_at`: (row, column) where a result is one of them.
    Personalization moves only what it can explain. (Leaves `likeness` with -inf where a
    result meets itself, for `_reasons`.)"""
    count, viewed = likeness.shape
    if not viewed or not count:
        return np.zeros(count, dtype=bool)
    explained = np.zeros(count, dtype=bool)
    if viewed_at:
        rows, columns = zip(*viewed_at, strict=True)
        likeness[rows, columns] = -np.inf
        explained[list(rows)] = True
    return explained | (likeness.max(axis=1) >= BECAUSE_MIN)


def _reasons(
    likeness: np.ndarray, plains: list[int], own: dict[int, int], moved_up: list[bool]
) -> list[int]:
    """For each shown result (`plains`, in the order shown), the column of the viewed product
    it is shown "because" of, or -1: none for a result that did not move up or was viewed
    (`own`); else the most alike of the viewed products at least BECAUSE_MIN like it, a near
    tie (within BECAUSE_TIE) going to the one named least so far."""
    if not likeness.shape[1]:
        return [-1] * len(plains)
    # Whole-page steps on arrays, then plain Python lists: a numpy step per result would cost
    # more than the re-rank.
    rows = likeness[plains]
    best = rows.max(axis=1)
    near = (rows >= np.maximum(best - BECAUSE_TIE, BECAUSE_MIN)[:, None]).tolist()
    cosines, best_list = rows.tolist(), best.tolist()
    named = [0] * likeness.shape[1]
    reasons = []
    for at, (plain, up) in enumerate(zip(plains, moved_up, strict=True)):
        if not up or plain in own or best_list[at] < BECAUSE_MIN:
            reasons.append(-1)
            continue
        row = cosines[at]
        choice = min((j for j, ok in enumerate(near[at]) if ok), key=lambda j: (named[j], -row[j]))
        named[choice] += 1
        reasons.append(choice)
    return reasons
