"""Offline evaluation of next-item recommenders on logged sessions (session-rec's protocol):
the rank of every next view, and HR@K / MRR@K from the ranks, overall and by group."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import sparse

from .blend import DENSE_CELLS, dense_ranks, sparse_ranks
from .model import SessionRecommender
from .predictions import predictions_enumerate


class Scorer(Protocol):
    """What the evaluation needs: the items it ranks, and a score for each given a prefix.

    A score of NOT_RANKED (-inf) or NaN means "no evidence": such an item is never a hit.
    A scorer may also offer `scores_batch(prefixes)`: a (len(prefixes), len(items)) array, or
    a sparse matrix whose stored entries are the items with evidence; or `ranks_batch(prefixes,
    targets, k)`: each true item's rank, 0 for a miss or a rank beyond k. Its `batch_rows`, if
    set, is how many prefixes to give it at once (sparse scorers take many).
    """

    @property
    def items(self) -> Sequence[str]: ...

    def scores(self, skus: Sequence[str]) -> np.ndarray: ...


@dataclass
class Metrics:
    hr: float  # share of predictions with the true item in the top k (0..1)
    mrr: float  # mean of 1/rank, 0 outside the top k (0..1)
    predictions: int
    k: int = 20

    def line(self, name: str) -> str:
        return f"{name} HR@{self.k} {100 * self.hr:.2f} MRR@{self.k} {100 * self.mrr:.2f}"

    def as_dict(self) -> dict[str, float | int]:
        """For storage and display: hr and mrr in percent, rounded to 2 decimals."""
        return {
            "hr": round(100 * self.hr, 2),
            "mrr": round(100 * self.mrr, 2),
            "predictions": self.predictions,
            "k": self.k,
        }


# Test sessions are split by their length (views) into these groups, as papers report.
LENGTH_GROUPS = ((2, 5), (6, 10), (11, 20), (21, None))


@dataclass
class Ranks:
    """Each prediction's rank (0: a miss, or beyond k), whether its true item was already
    viewed earlier in the session (a repeat), and the length of its test session."""

    ranks: np.ndarray
    repeat: np.ndarray
    session_length: np.ndarray
    k: int

    def metrics(self, where: np.ndarray | None = None) -> Metrics:
        ranks = self.ranks if where is None else self.ranks[where]
        if not len(ranks):
            return Metrics(hr=0.0, mrr=0.0, predictions=0, k=self.k)
        hits = ranks[ranks > 0]
        return Metrics(
            hr=len(hits) / len(ranks),
            mrr=float(np.sum(1.0 / hits)) / len(ranks),
            predictions=len(ranks),
            k=self.k,
        )

    def groups(self) -> dict[str, Metrics]:
        """Metrics of the repeat and new targets, and of each group of session lengths."""
        groups = {"repeat": self.metrics(self.repeat), "new": self.metrics(~self.repeat)}
        for low, high in LENGTH_GROUPS:
            inside = self.session_length >= low
            if high is not None:
                inside &= self.session_length <= high
            groups[f"length {low}-{high}" if high else f"length {low}+"] = self.metrics(inside)
        return groups


def next_item_evaluate(
    scorer: Scorer, test_sessions: Iterable[Sequence[str]], *, k: int = 20
) -> Metrics:
    """HR@k and MRR@k of `scorer` over every position i >= 1 of every test session (see
    `next_item_ranks`)."""
    return next_item_ranks(scorer, test_sessions, k=k).metrics()


def next_item_ranks(
    scorer: Scorer, test_sessions: Iterable[Sequence[str]], *, k: int = 20
) -> Ranks:
    """The rank of each prediction of every position i >= 1 of every test session.

    The item at position i is ranked among all of the scorer's items given positions 0..i-1.
    rank = 1 + the number of items with a strictly higher score (session-rec's and GRU4Rec's
    convention): ties count in the true item's favour, which is why scorers mark items they
    have no evidence for NOT_RANKED instead of leaving them tied at zero; a true item that is
    NOT_RANKED (or NaN), or that the scorer does not know (unseen in training), is a miss.
    Repeated items are kept and already-viewed items stay candidates.
    """

    def rank(prefixes, targets):
        return {"": _ranks(scorer, prefixes, targets, k)}

    # a scorer that never scores every product at once says how many prefixes it takes
    batch_rows = getattr(scorer, "batch_rows", None)
    return _ranks_collect(rank, scorer.items, test_sessions, batch_rows, k)[""]


def recommender_parts_ranks(
    recommender: SessionRecommender, test_sessions: Iterable[Sequence[str]], *, k: int = 20
) -> dict[str, Ranks]:
    """`next_item_ranks` of the recommender ("default") and of each of its parts alone (see
    `SessionRecommender.ranks_parts`), in one pass that scores each part once."""

    def rank(prefixes, targets):
        return recommender.ranks_parts(prefixes, targets, k)

    return _ranks_collect(rank, recommender.items, test_sessions, recommender.batch_rows, k)


def _ranks_collect(
    rank: Callable[[list[Sequence[str]], np.ndarray], dict[str, np.ndarray]],
    items: Sequence[str],
    test_sessions: Iterable[Sequence[str]],
    batch_rows: int | None,
    k: int,
) -> dict[str, Ranks]:
    """Ranks of every prediction, by name, from `rank(prefixes, targets)` on the predictions
    whose true item is known (the others are misses)."""
    index = {sku: i for i, sku in enumerate(items)}
    batch_size = batch_rows or max(1, DENSE_CELLS // max(1, len(index)))
    batches: list[tuple[int, np.ndarray, dict[str, np.ndarray]]] = []
    repeats, lengths = [], []
    for batch in _predictions_batched(test_sessions, index, batch_size):
        prefixes, targets = batch.prefixes, batch.targets
        known = np.flatnonzero(targets >= 0)
        ranked = rank([prefixes[i] for i in known], targets[known]) if len(known) else {}
        batches.append((len(targets), known, ranked))
        repeats.append(batch.repeat)
        lengths.append(batch.session_length)
    names = list(dict.fromkeys(name for _, _, ranked in batches for name in ranked)) or [""]
    repeat = np.concatenate(repeats) if repeats else np.zeros(0, dtype=bool)
    length = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    results = {}
    for name in names:
        parts = []
        for size, known, ranked in batches:
            full = np.zeros(size, dtype=np.int64)
            if name in ranked:
                full[known] = ranked[name]
            parts.append(full)
        values = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        results[name] = Ranks(ranks=values, repeat=repeat, session_length=length, k=k)
    return results


def _ranks(scorer: Scorer, prefixes: list[Sequence[str]], targets: np.ndarray, k: int):
    ranks_batch = getattr(scorer, "ranks_batch", None)
    if ranks_batch is not None:
        return ranks_batch(prefixes, targets, k)
    table = _scores_batch(scorer, prefixes)
    if sparse.issparse(table):
        return sparse_ranks(table, targets, k)
    return dense_ranks(table, targets, k)


@dataclass
class _Batch:
    prefixes: list[Sequence[str]]
    targets: np.ndarray  # the true item's index, -1 when the scorer does not know it
    repeat: np.ndarray
    session_length: np.ndarray


def _predictions_batched(
    sessions: Iterable[Sequence[str]], index: dict[str, int], batch_size: int
) -> Iterator[_Batch]:
    prefixes: list[Sequence[str]] = []
    targets: list[int] = []
    repeats: list[bool] = []
    lengths: list[int] = []
    for prefix, target, session in predictions_enumerate(sessions):
        prefixes.append(prefix)
        targets.append(index.get(target, -1))
        repeats.append(target in prefix)
        lengths.append(len(session))
        if len(prefixes) == batch_size:
            yield _Batch(
                prefixes,
                np.asarray(targets, dtype=np.int64),
                np.asarray(repeats, dtype=bool),
                np.asarray(lengths, dtype=np.int64),
            )
            prefixes, targets, repeats, lengths = [], [], [], []
    if prefixes:
        yield _Batch(
            prefixes,
            np.asarray(targets, dtype=np.int64),
            np.asarray(repeats, dtype=bool),
            np.asarray(lengths, dtype=np.int64),
        )


def _scores_batch(scorer: Scorer, prefixes: list[Sequence[str]]) -> np.ndarray:
    batch = getattr(scorer, "scores_batch", None)
    if batch is not None:
        table = batch(prefixes)
        return table if sparse.issparse(table) else np.asarray(table)
    return np.stack([np.asarray(scorer.scores(prefix)) for prefix in prefixes])
