"""Offline evaluation of next-item recommenders on logged sessions (session-rec's protocol), the
baselines they must beat, and the comparison that `evaluate_recommendations` prints."""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import sparse

from .blend import DENSE_CELLS, dense_ranks, sparse_ranks
from .config import SESSION_VECTOR, RecommenderConfig
from .learning import recommender_build, vectors_training_split
from .model import NOT_RANKED, SessionRecommender
from .predictions import predictions_enumerate
from .prod2vec import Prod2VecParams, prod2vec_train

SPARSE_BATCH_ROWS = 1000  # prefixes at a time for scorers whose scores are sparse


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


class PopularityBaseline:
    """Every prefix gets the same ranking: items by how often they were viewed in training."""

    batch_rows = SPARSE_BATCH_ROWS

    def __init__(self, items: list[str], counts: np.ndarray):
        self.items = items
        self.counts = counts

    @classmethod
    def fit(cls, sessions: Iterable[Sequence[str]]) -> PopularityBaseline:
        index: dict[str, int] = {}
        codes = [index.setdefault(sku, len(index)) for skus in sessions for sku in skus]
        counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=len(index))
        return cls(list(index), counts.astype(np.float32))

    def scores(self, skus: Sequence[str]) -> np.ndarray:
        return self.counts.copy()

    def scores_batch(self, prefixes: Sequence[Sequence[str]]) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(prefixes), len(self.counts)))

    def ranks_batch(
        self, prefixes: Sequence[Sequence[str]], targets: np.ndarray, k: int
    ) -> np.ndarray:
        # the same ranking for every prefix: 1 + the items viewed more often than the target
        descending = np.sort(self.counts)[::-1]
        higher = np.searchsorted(-descending, -self.counts[targets], side="left")
        ranks = 1 + higher
        return np.where(ranks <= k, ranks, 0)


class ItemKnnBaseline:
    """session-rec's iknn: items similar to the last viewed one by session co-occurrence.

    s(i, j) = co(i, j) / ((supp_i + lambda)^alpha * (supp_j + lambda)^(1 - alpha)), where
    co(i, j) = sum over sessions of (views of i) * (1 if j was viewed), supp counts views, and
    s(i, i) = 0: session-rec adds 1 per view of i to every item of its session (its NumPy
    fancy-indexed `+=` counts an item viewed twice once). Items that never co-occurred with the
    last item are NOT_RANKED (session-rec leaves them at 0, below every neighbour once its
    ties are broken at random).
    """

    batch_rows = SPARSE_BATCH_ROWS

    def __init__(self, items: list[str], similarity: sparse.csr_matrix):
        self.items = items
        self.index = {sku: i for i, sku in enumerate(items)}
        self.similarity = similarity

    @classmethod
    def fit(
        cls, sessions: Iterable[Sequence[str]], *, regularization: float = 20, alpha: float = 0.5
    ) -> ItemKnnBaseline:
        index: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for row, skus in enumerate(sessions):
            cols.extend(index.setdefault(sku, len(index)) for sku in skus)
            rows.extend([row] * len(skus))
        views = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(max(rows, default=-1) + 1, len(index)),
        )  # (session, item) entries summed: views per session
        seen = views.copy()
        seen.data[:] = 1
        together = (views.T @ seen).tocsr()
        together.setdiag(0)
        together.eliminate_zeros()
        support = np.asarray(views.sum(axis=0)).ravel() + regularization
        left = sparse.diags(support ** (-alpha))
        right = sparse.diags(support ** (alpha - 1))
        return cls(list(index), (left @ together @ right).astype(np.float32).tocsr())

    def scores(self, skus: Sequence[str]) -> np.ndarray:
        row = self.scores_batch([skus])
        scores = np.full(len(self.items), NOT_RANKED, dtype=np.float32)
        scores[row.indices] = row.data
        return scores

    def scores_batch(self, prefixes: Sequence[Sequence[str]]) -> sparse.csr_matrix:
        """The last item's similarity row for each prefix: the stored entries are the items
        that co-occurred with it (every other one is NOT_RANKED)."""
        last = [self.index.get(skus[-1], -1) if skus else -1 for skus in prefixes]
        rows = np.asarray(last, dtype=np.int64)
        table = sparse.csr_matrix(self.similarity[np.maximum(rows, 0)])
        if np.any(rows < 0):
            table = sparse.csr_matrix(sparse.diags((rows >= 0).astype(np.float32)) @ table)
            table.eliminate_zeros()
        return table


@dataclass
class Comparison:
    """One evaluation run: each method's ranks, and what the run saw and how long it took."""

    ranks: dict[str, Ranks]
    timings: dict[str, float]  # phase -> seconds
    vocabulary: int
    training_sessions: int
    training_events: int
    pairs: dict[str, int]  # stored entries of each count component
    weights: dict[str, float]
    learning: dict

    def metrics(self) -> dict[str, Metrics]:
        return {name: ranks.metrics() for name, ranks in self.ranks.items()}


def recommenders_compare(
    train_sessions: Sequence[Sequence[str]],
    test_sessions: Sequence[Sequence[str]],
    *,
    params: Prod2VecParams,
    config: RecommenderConfig,
    k: int = 20,
    on_epoch: Callable[[int, int, float], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> Comparison:
    """Train prod2vec once on `train_sessions`, build the default recommender with `config`,
    and rank every test prediction with it and with what `methods_scorers` compares it with,
    timing each phase. `on_phase(name)` hears of each phase as it starts."""
    timings: dict[str, float] = {}
    clock = {"name": None, "since": time.perf_counter()}

    def phase(name: str | None) -> None:
        now = time.perf_counter()
        if clock["name"] is not None:
            timings[clock["name"]] = timings.get(clock["name"], 0.0) + now - clock["since"]
        clock["name"], clock["since"] = name, now
        if name is not None and on_phase is not None:
            on_phase(name)

    phase("training prod2vec")
    earlier, later = vectors_training_split(train_sessions, config)
    trained = prod2vec_train(earlier, params, later=later, on_epoch=on_epoch)
    phase("building the recommender")
    recommender = recommender_build(
        trained.vectors,
        train_sessions,
        config,
        vectors_before_validation=trained.vectors_before_later,
        on_phase=phase,
    )
    del trained  # the recommender keeps unit copies: the raw vectors would only add to the peak
    phase("evaluating")
    ranks = methods_ranks(recommender, train_sessions, test_sessions, k=k)
    phase(None)
    return Comparison(
        ranks=ranks,
        timings={name: round(seconds, 2) for name, seconds in timings.items()},
        vocabulary=len(recommender.items),
        training_sessions=len(train_sessions),
        training_events=sum(len(skus) for skus in train_sessions),
        pairs=recommender.components_sizes(),
        weights=recommender.weights,
        learning=recommender.learning,
    )


def comparison_report(runs: Sequence[Comparison], *, reading: float = 0.0) -> list[str]:
    """The lines `evaluate_recommendations` prints for one or more runs (seeds) of the same
    comparison: phases, sizes, learned weights, each method (mean and spread over the runs),
    and the first run's metrics by target and session length. `reading`: seconds spent
    reading the files."""
    lines: list[str] = []
    write = lines.append
    first = runs[0]
    phases = {"reading": reading}
    for name in first.timings:
        phases[name] = statistics.mean(run.timings.get(name, 0.0) for run in runs)
    write("phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()))
    repeat_share = first.ranks["default"].repeat.mean() if len(first.ranks) else 0
    predictions = len(first.ranks["default"].ranks)
    write(
        f"training: {first.training_sessions:,} sessions, {first.training_events:,} views, "
        f"{first.vocabulary:,} products with a vector; test: {predictions:,} predictions "
        f"({100 * repeat_share:.1f}% of them repeats)"
    )
    write("stored pairs: " + ", ".join(f"{n} {size:,}" for n, size in first.pairs.items()))
    learning = first.learning
    if learning.get("validation_predictions"):
        weights = ", ".join(f"{name} {weight:.3f}" for name, weight in first.weights.items())
        write(
            f"blend weights: {weights} (learned on {learning['validation_predictions']:,} "
            f"validation predictions: HR {learning['hr']:.2f} MRR {learning['mrr']:.2f})"
        )
    k = first.ranks["default"].k
    for name in first.ranks:
        metrics = [run.ranks[name].metrics() for run in runs]
        hr = [100 * m.hr for m in metrics]
        mrr = [100 * m.mrr for m in metrics]
        if len(runs) == 1:
            write(f"{name} HR@{k} {hr[0]:.2f} MRR@{k} {mrr[0]:.2f}")
        else:
            write(
                f"{name} HR@{k} {statistics.mean(hr):.2f} ±{statistics.stdev(hr):.2f} "
                f"MRR@{k} {statistics.mean(mrr):.2f} ±{statistics.stdev(mrr):.2f} "
                f"({len(runs)} seeds)"
            )
    groups = list(first.ranks["default"].groups())
    write(f"by target and session length, HR@{k} / MRR@{k} (first run):")
    write(f"  {'method':<16}" + "".join(f"{group:>16}" for group in groups))
    for name, ranks in first.ranks.items():
        cells = [
            f"{100 * m.hr:.2f} / {100 * m.mrr:.2f}" if m.predictions else "-"
            for m in ranks.groups().values()
        ]
        write(f"  {name:<16}" + "".join(f"{cell:>16}" for cell in cells))
    counts = [m.predictions for m in first.ranks["default"].groups().values()]
    write(f"  {'predictions':<16}" + "".join(f"{count:>16,}" for count in counts))
    return lines


def methods_scorers(
    recommender: SessionRecommender, train_sessions: Iterable[Sequence[str]]
) -> dict[str, Scorer]:
    """What a built recommender is compared with, in this order: the baselines fitted on
    `train_sessions` ("popularity", "item-knn"), the session vector alone ("session-vector",
    with the recommender's recency and dedupe), each of its count components alone (by name),
    and the recommender itself ("default"). They share its vectors and fitted components."""
    scorers: dict[str, Scorer] = {
        "popularity": PopularityBaseline.fit(train_sessions),
        "item-knn": ItemKnnBaseline.fit(train_sessions),
        SESSION_VECTOR: SessionRecommender(
            recommender.vectors, dataclasses.replace(recommender.config, components=())
        ),
    }
    for name, component in recommender.components.items():
        scorers[name] = SessionRecommender(
            recommender.vectors,
            dataclasses.replace(recommender.config, components=(name,), fallback=False),
            components={name: component},
        )
    scorers["default"] = recommender
    return scorers


def methods_ranks(
    recommender: SessionRecommender,
    train_sessions: Iterable[Sequence[str]],
    test_sessions: Sequence[Sequence[str]],
    *,
    k: int = 20,
) -> dict[str, Ranks]:
    """`next_item_ranks` of each method `methods_scorers` names, in its order: the baselines
    one by one, the recommender's parts and itself in one pass (`recommender_parts_ranks`)."""
    baselines = {
        "popularity": PopularityBaseline.fit(train_sessions),
        "item-knn": ItemKnnBaseline.fit(train_sessions),
    }
    ranks = {
        name: next_item_ranks(scorer, test_sessions, k=k) for name, scorer in baselines.items()
    }
    parts = recommender_parts_ranks(recommender, test_sessions, k=k)
    for name in (SESSION_VECTOR, *recommender.components, "default"):
        ranks[name] = parts[name]
    return ranks


def methods_evaluate(
    recommender: SessionRecommender,
    train_sessions: Iterable[Sequence[str]],
    test_sessions: Sequence[Sequence[str]],
    *,
    k: int = 20,
) -> dict[str, Metrics]:
    """Metrics of a built recommender and of what `methods_scorers` compares it with.
    `train_sessions` may be any re-iterable corpus."""
    ranks = methods_ranks(recommender, train_sessions, test_sessions, k=k)
    return {name: method_ranks.metrics() for name, method_ranks in ranks.items()}


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
