"""Learning how much to trust each component: blend weights fitted on held-out sessions.

The weights are chosen to maximise HR@k + MRR@k of the blend on validation sessions (the most
recent share of the training sessions, which the components were not fitted on), by coordinate
ascent over a grid. Ranking every product again for each candidate weight would be slow, so each
validation prediction keeps only its candidates: the `per_component` best products of each
component, and the true one. Outside them, no product scores more under any component than
that component's `per_component`-th score (the row's bound), so a true product that the blend
scores above the blended bound has its exact rank among the candidates; one that does not is
counted a miss (rarely a true hit lost, never one invented).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

# Each weight is tried at these values, the others held, for a few rounds.
WEIGHT_GRID = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
ROUNDS = 3


@dataclass
class Candidates:
    """Component scores of each validation prediction's candidate products."""

    features: np.ndarray  # (candidates, components) float32
    owner: np.ndarray  # (candidates,) the prediction each belongs to
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


def candidates_gather(
    components_score: ScoreBatch,
    sessions: Sequence[Sequence[str]],
    index: dict[str, int],
    *,
    k: int = 20,
    per_component: int = 50,
    batch_size: int = 1000,
) -> Candidates:
    """Every next-view prediction of `sessions` (position i >= 1 from the views before it), with
    the candidates of each: `components_score(prefixes)` returns one sparse (len(prefixes),
    products) score matrix per component. A true product outside `index` is a miss, and counted."""
    features, owners, targets_flags, bounds = [], [], [], []
    prefixes: list[Sequence[str]] = []
    targets: list[int] = []
    done = 0

    def flush() -> None:
        nonlocal done
        known = [i for i, target in enumerate(targets) if target >= 0]
        if known:
            matrices = components_score([prefixes[i] for i in known])
            columns = np.asarray([targets[i] for i in known], dtype=np.int64)
            batch = _batch_candidates(matrices, columns, per_component)
            features.append(batch[0])
            owners.append(np.asarray(known, dtype=np.int64)[batch[1]] + done)
            targets_flags.append(batch[2])
            bound = np.full((len(targets), len(matrices)), np.inf, dtype=np.float32)
            bound[known] = batch[3]
            bounds.append(bound)
        else:
            bounds.append(np.full((len(targets), 0), np.inf, dtype=np.float32))
        done += len(targets)
        prefixes.clear()
        targets.clear()

    for skus in sessions:
        for position in range(1, len(skus)):
            prefixes.append(skus[:position])
            targets.append(index.get(skus[position], -1))
            if len(prefixes) == batch_size:
                flush()
    if prefixes:
        flush()
    components = next((f.shape[1] for f in features), 0)
    bounds = [b if b.shape[1] else np.full((len(b), components), np.inf) for b in bounds]
    return Candidates(
        features=np.concatenate(features) if features else np.zeros((0, 0), np.float32),
        owner=np.concatenate(owners) if owners else np.zeros(0, np.int64),
        is_target=np.concatenate(targets_flags) if targets_flags else np.zeros(0, bool),
        bounds=np.concatenate(bounds).astype(np.float32) if bounds else np.zeros((0, 0)),
        predictions=done,
        k=k,
    )


def _batch_candidates(
    matrices: list[sparse.csr_matrix], targets: np.ndarray, per: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rows = len(targets)
    picks = [targets[:, None]]
    bounds = np.zeros((rows, len(matrices)), dtype=np.float32)
    matrices = [sparse.csr_matrix(matrix) for matrix in matrices]
    for number, matrix in enumerate(matrices):
        top, bound = _sparse_top(matrix, per)
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


def _sparse_top(matrix: sparse.csr_matrix, per: int) -> tuple[np.ndarray, np.ndarray]:
    top = np.full((matrix.shape[0], per), -1, dtype=np.int64)
    bound = np.zeros(matrix.shape[0], dtype=np.float32)
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        data, columns = matrix.data[start:end], matrix.indices[start:end]
        if len(data) > per:
            chosen = np.argpartition(-data, per)[: per + 1]
            last = chosen[np.argmin(data[chosen])]
            bound[row] = data[last]  # the best score left out
            chosen = chosen[chosen != last][:per]
            top[row] = columns[chosen]
        else:
            top[row, : len(data)] = columns
    return top, bound


def _cells(matrix: sparse.csr_matrix, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
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
) -> tuple[list[float], tuple[float, float]]:
    """Coordinate ascent from `start`: each weight tried at every value of `grid` in turn,
    keeping a change only if HR + MRR rises. The weights are scaled to sum to 1. Returns the
    learned weights and their (HR, MRR)."""

    def scaled(weights: Sequence[float]) -> list[float]:
        total = sum(weights)
        return [value / total for value in weights]

    weights = list(start)
    best_metrics = candidates.metrics(scaled(weights))
    best = sum(best_metrics)
    for _ in range(rounds):
        changed = False
        for number in range(len(weights)):
            for value in grid:
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
            break
    return scaled(weights), best_metrics
