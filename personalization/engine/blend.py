"""Learning how much to trust each component: blend weights fitted on held-out sessions.

The weights are chosen to maximise HR@k + MRR@k of the blend on validation sessions (the most
recent share of the training sessions, which the components were not fitted on), by coordinate
ascent over a grid. Ranking every product again for each candidate weight would be slow, so each
validation prediction keeps only its candidates: the `per_component` best products of each
component (the sparse count components, and a dense one, the session vector, if given), and the
true one. Outside them, no product scores more under any component than
that component's `per_component`-th score (the row's bound), so a true product that the blend
scores above the blended bound has its exact rank among the candidates; one that does not is
counted a miss (rarely a true hit lost, never one invented).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .predictions import predictions_enumerate

# Each weight is tried at these values, the others held, for a few rounds.
WEIGHT_GRID = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
ROUNDS = 3
# Dense score matrices (every product of a batch of rows) stay near this many cells
# (float32: 16 MiB), so that their memory does not grow with the catalog.
DENSE_CELLS = 1 << 22
# A dense component's best candidates are looked for among the columns that beat a sample of
# every this-many-th column (see `_dense_top`).
SAMPLE_STEP = 8


@dataclass
class Candidates:
    """Component scores of each validation prediction's candidate products."""

    features: np.ndarray  # (candidates, components) float32
    owner: np.ndarray  # (candidates,) int32: the prediction each belongs to
    is_target: np.ndarray  # (candidates,) True for the true next product
    bounds: np.ndarray  # (predictions, components): no product outside scores more
    predictions: int
    k: int

    def metrics(self, weights: Sequence[float]) -> tuple[float, float]:
        """(HR@k, MRR@k) of the blend with `weights`, as shares (0..1)."""
        weights = np.asarray(weights, dtype=np.float32)
        blended = self.features @ weights
        bound = self.bounds @ weights
        true = np.full(self.predictions, -np.inf, dtype=np.float32)
        true[self.owner[self.is_target]] = blended[self.is_target]
        higher = np.bincount(
            self.owner, weights=blended > true[self.owner], minlength=self.predictions
        )
        ranks = 1 + higher
        hit = (true > bound) & (true > 0) & (ranks <= self.k)
        if not self.predictions:
            return 0.0, 0.0
        return float(hit.sum() / self.predictions), float(np.sum(1 / ranks[hit]) / self.predictions)


ScoreBatch = Callable[[Sequence[Sequence[str]]], list[sparse.csr_matrix]]
DenseScore = Callable[[Sequence[Sequence[str]]], np.ndarray]


def candidates_gather(
    components_score: ScoreBatch,
    sessions: Sequence[Sequence[str]],
    index: dict[str, int],
    *,
    dense_score: DenseScore | None = None,
    k: int = 20,
    per_component: int = 50,
    batch_size: int = 1000,
    on_batch: Callable[[], None] | None = None,
) -> Candidates:
    """Every next-view prediction of `sessions` (position i >= 1 from the views before it), with
    the candidates of each: `components_score(prefixes)` returns one sparse (len(prefixes),
    products) score matrix per component; `dense_score(prefixes)`, if given, one more component's
    (len(prefixes), products) array, scores >= 0, asked for a few rows at a time (DENSE_CELLS).
    A true product outside `index` is a miss, and counted. `on_batch()` hears of each
    `batch_size` predictions gathered."""
    features, owners, targets_flags, bounds = [], [], [], []
    prefixes: list[Sequence[str]] = []
    targets: list[int] = []
    done = 0
    dense_rows = batch_size if dense_score is None else max(1, DENSE_CELLS // max(1, len(index)))

    def flush() -> None:
        nonlocal done
        known = [i for i, target in enumerate(targets) if target >= 0]
        bound = None
        if known:
            matrices = [
                sparse.csr_matrix(m) for m in components_score([prefixes[i] for i in known])
            ]
            columns = np.asarray([targets[i] for i in known], dtype=np.int64)
            # rows of an unknown true product are misses whatever their bound
            bound = np.zeros((len(targets), len(matrices) + (dense_score is not None)))
            chunks = []
            for start in range(0, len(known), dense_rows):
                rows = slice(start, start + dense_rows)
                parts = [matrix[rows] for matrix in matrices]
                if dense_score is not None:
                    parts.append(dense_score([prefixes[i] for i in known[rows]]))
                batch = _batch_candidates(parts, columns[rows], per_component)
                chunks.append(batch[:3])
                bound[known[rows]] = batch[3]
            # one array per batch of prefixes: thousands of small ones would fragment the heap
            features.append(np.concatenate([chunk[0] for chunk in chunks]))
            owner = np.concatenate(
                [
                    start + chunk[1]
                    for start, chunk in zip(range(0, len(known), dense_rows), chunks, strict=True)
                ]
            )
            owners.append((np.asarray(known)[owner] + done).astype(np.int32))
            targets_flags.append(np.concatenate([chunk[2] for chunk in chunks]))
        bounds.append(bound if bound is not None else np.zeros((len(targets), 0)))
        done += len(targets)
        prefixes.clear()
        targets.clear()
        if on_batch is not None:
            on_batch()

    for prefix, target, _ in predictions_enumerate(sessions):
        prefixes.append(prefix)
        targets.append(index.get(target, -1))
        if len(prefixes) == batch_size:
            flush()
    if prefixes:
        flush()
    components = next((f.shape[1] for f in features), 0)
    bounds = [b if b.shape[1] else np.zeros((len(b), components)) for b in bounds]
    return Candidates(
        features=_concatenate(features, np.zeros((0, 0), np.float32)),
        owner=_concatenate(owners, np.zeros(0, np.int32)),
        is_target=_concatenate(targets_flags, np.zeros(0, bool)),
        bounds=_concatenate(bounds, np.zeros((0, 0))).astype(np.float32),
        predictions=done,
        k=k,
    )


def _concatenate(parts: list[np.ndarray], empty: np.ndarray) -> np.ndarray:
    """The parts as one array, the list emptied at once: the parts of every field alive at
    the same time as the whole of each would double the candidates' memory."""
    whole = np.concatenate(parts) if parts else empty
    parts.clear()
    return whole


def _batch_candidates(
    matrices: list[sparse.csr_matrix | np.ndarray], targets: np.ndarray, per: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rows = len(targets)
    picks = [targets[:, None]]
    bounds = np.zeros((rows, len(matrices)), dtype=np.float32)
    for number, matrix in enumerate(matrices):
        top, bound = (
            _dense_top(matrix, per) if isinstance(matrix, np.ndarray) else sparse_top(matrix, per)
        )
        picks.append(top)
        bounds[:, number] = bound
    candidates = np.concatenate(picks, axis=1)  # -1 pads short rows
    candidates.sort(axis=1)
    keep = candidates >= 0
    keep[:, 1:] &= candidates[:, 1:] != candidates[:, :-1]
    owner = np.repeat(np.arange(rows), candidates.shape[1]).reshape(candidates.shape)[keep]
    columns = candidates[keep]
    features = np.stack([_cells(matrix, owner, columns) for matrix in matrices], axis=1).astype(
        np.float32
    )
    return features, owner, columns == targets[owner], bounds


def _dense_top(matrix: np.ndarray, per: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's best columns, at most `per` (-1 pads), and the best score left out: the
    (per+1)-th best, so that every column scoring above it is kept (0 when none is left out).

    A partition of every row would cost most of the learning: the (per+1)-th best of every
    SAMPLE_STEP-th column is at most the row's own, so the columns scoring that or more (about
    SAMPLE_STEP * (per+1) of them) hold the row's best, and are partitioned alone."""
    rows, columns = matrix.shape
    top = np.full((rows, per), -1, dtype=np.int64)
    if columns <= per:
        top[:, :columns] = np.arange(columns)
        return top, np.zeros(rows, dtype=np.float32)
    sample = matrix[:, ::SAMPLE_STEP]
    floor = np.full(rows, -np.inf, dtype=matrix.dtype)  # too few sampled: every column
    if sample.shape[1] > per:
        floor = np.partition(sample, sample.shape[1] - per - 1, axis=1)[:, -per - 1]
    owner, column = np.nonzero(matrix >= floor[:, None])
    values = matrix[owner, column]
    kept = np.full((rows, int(np.bincount(owner, minlength=1).max())), -np.inf, dtype=matrix.dtype)
    kept[owner, _row_slots(owner)] = values
    bound = -np.partition(-kept, per, axis=1)[:, per]
    best = values > bound[owner]
    owner, column = owner[best], column[best]
    top[owner, _row_slots(owner)] = column
    return top, bound.astype(np.float32)


def _row_slots(owner: np.ndarray) -> np.ndarray:
    """Each entry's place within its row, for entries sorted by row (`owner`)."""
    return np.arange(len(owner)) - np.searchsorted(owner, owner)


def sparse_top(matrix: sparse.csr_matrix, per: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's best columns, at most `per` (-1 pads), and the best score left out (0 when
    none is)."""
    rows = matrix.shape[0]
    top = np.full((rows, per), -1, dtype=np.int64)
    bound = np.zeros(rows, dtype=np.float32)
    lengths = np.diff(matrix.indptr)
    owners = np.repeat(np.arange(rows), lengths)
    short = (lengths <= per)[owners]  # every entry of a short row is among its best
    slots = np.arange(len(owners)) - matrix.indptr[owners]
    top[owners[short], slots[short]] = matrix.indices[short]
    for row in np.flatnonzero(lengths > per):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        data, columns = matrix.data[start:end], matrix.indices[start:end]
        chosen = np.argpartition(-data, per)[: per + 1]
        last = chosen[np.argmin(data[chosen])]
        bound[row] = data[last]  # the best score left out
        top[row] = columns[chosen[chosen != last][:per]]
    return top, bound


def _cells(
    matrix: sparse.csr_matrix | np.ndarray, rows: np.ndarray, columns: np.ndarray
) -> np.ndarray:
    return np.asarray(matrix[rows, columns]).ravel()


def sparse_ranks(table: sparse.spmatrix, targets: np.ndarray, k: int) -> np.ndarray:
    """Each true item's rank in its row of `table` (0 for a miss or beyond k): the stored
    entries are the items with evidence, every other one is NOT_RANKED."""
    table = sparse.csr_matrix(table)
    true, stored = true_scores(table, targets)
    owners = np.repeat(np.arange(table.shape[0]), np.diff(table.indptr))
    higher = np.bincount(owners, weights=table.data > true[owners], minlength=table.shape[0])
    ranks = 1 + higher.astype(np.int64)
    return np.where(stored & np.isfinite(true) & (ranks <= k), ranks, 0)


def true_scores(table: sparse.csr_matrix, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each row's score of its true item, whether the row stores one): a stored zero is
    evidence too, so the target is looked up among the row's columns."""
    owners = np.repeat(np.arange(table.shape[0]), np.diff(table.indptr))
    found = np.flatnonzero(table.indices == targets[owners])
    true = np.zeros(table.shape[0], dtype=table.dtype)
    stored = np.zeros(table.shape[0], dtype=bool)
    true[owners[found]] = table.data[found]
    stored[owners[found]] = True
    return true, stored


def dense_ranks(table: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """Each true item's rank in its row of `table` (0 for a miss or beyond k). The rank needs
    only the true item's score: one vectorised comparison, no sort of the candidates."""
    true = table[np.arange(len(targets)), targets]
    ranks = 1 + np.count_nonzero(table > true[:, None], axis=1)
    return np.where(np.isfinite(true) & (ranks <= k), ranks, 0)


def blend_learn(
    candidates: Candidates,
    start: Sequence[float],
    *,
    grid: Sequence[float] = WEIGHT_GRID,
    rounds: int = ROUNDS,
    vary: Sequence[int] | None = None,
    on_steps: Callable[[int], None] | None = None,
) -> tuple[list[float], tuple[float, float]]:
    """Coordinate ascent from `start`: each weight (of those numbered in `vary`, by default
    all) tried at every value of `grid` in turn, keeping a change only if HR + MRR rises. The
    weights are scaled to sum to 1. Returns the learned weights and their (HR, MRR).

    `on_steps(n)` hears of each weight tried, and of the trials a round that changed nothing
    saves: `blend_learn_steps` in all."""

    def scaled(weights: Sequence[float]) -> list[float]:
        total = sum(weights)
        return [value / total for value in weights]

    steps = on_steps or (lambda n: None)
    weights = list(start)
    numbers = range(len(weights)) if vary is None else vary
    best_metrics = candidates.metrics(scaled(weights))
    best = sum(best_metrics)
    for done in range(rounds):
        changed = False
        for number in numbers:
            for value in grid:
                steps(1)
                if value == weights[number]:
                    continue
                trial = weights.copy()
                trial[number] = value
                if sum(trial) <= 0:
                    continue
                metrics = candidates.metrics(scaled(trial))
                if sum(metrics) > best + 1e-9:
                    weights, best, best_metrics, changed = trial, sum(metrics), metrics, True
        if not changed:
            steps((rounds - done - 1) * len(numbers) * len(grid))
            break
    return scaled(weights), best_metrics


def blend_learn_steps(weights: int, *, grid: Sequence[float] = WEIGHT_GRID) -> int:
    """How many steps `blend_learn` reports when it varies `weights` weights."""
    return ROUNDS * weights * len(grid)
