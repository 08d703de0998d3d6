"""The product map: each product's vector placed on a plane, computed once when a version is
trained and stored beside its vectors, so the map costs no request anything but a file read.

Why t-SNE (openTSNE): the map is for seeing which products sit together, and t-SNE is made to
keep each point's nearest neighbours near it, where PCA keeps only the two widest directions
(in a 50-dimension prod2vec space, unrelated categories overlap on PCA's plane). openTSNE
rather than scikit-learn's t-SNE: its FFT-accelerated gradients lay out tens of thousands of
points in about a minute (docs/tuning.md), and it starts from PCA, so runs are stable and the
layout's overall shape still means something. UMAP would do as well but brings numba, a heavy
dependency with a long first compilation, for no gain a shopper would see.

Where a point is placed for a session vector, which has no product of its own: at the mean of
the positions of its nearest products, weighted by similarity (t-SNE has no map for new points;
this is the usual stand-in, and it lands in the cluster the session is closest to).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)
# openTSNE narrates each run at INFO ("Automatically determined negative gradient method"):
# the training's own phases already say what is happening.
logging.getLogger("openTSNE").setLevel(logging.WARNING)

PROJECTION_FILE = "projection.npy"
PERPLEXITY = 30.0
SEED = 7
MARKER_NEIGHBOURS = 10
# Below this many points t-SNE has too few neighbours to balance (perplexity needs 3 per unit):
# the plane of the two principal components is shown instead.
TSNE_MIN_POINTS = 16
EXAGGERATION_ITERATIONS, ITERATIONS = 250, 500  # openTSNE's defaults, named for the progress
PROGRESS_EVERY = 10  # iterations


def projection_compute(vectors: np.ndarray, *, seed: int = SEED, progress=None) -> np.ndarray:
    """A 2-D position for each row of `vectors` (n x d), float32, scaled into [-1, 1].

    Deterministic for a given `seed` and input. `progress` (an object with `total` and
    `update(n)`, such as a tqdm bar) is advanced by t-SNE's iterations."""
    vectors = np.asarray(vectors, dtype=np.float32)
    count = len(vectors)
    if count == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if count < TSNE_MIN_POINTS:
        return _scaled(_principal_plane(vectors))
    from openTSNE import TSNE

    perplexity = min(PERPLEXITY, (count - 1) / 3)
    steps = {}
    if progress is not None:
        progress.total = EXAGGERATION_ITERATIONS + ITERATIONS

        def step(iteration, error, embedding) -> bool:
            progress.update(PROGRESS_EVERY)
            return False  # go on

        steps = {"callbacks": step, "callbacks_every_iters": PROGRESS_EVERY}
    tsne = TSNE(
        perplexity=perplexity,
        metric="cosine",  # what the recommender and the re-rank measure
        initialization="pca",
        early_exaggeration_iter=EXAGGERATION_ITERATIONS,
        n_iter=ITERATIONS,
        random_state=seed,
        n_jobs=-1,
        verbose=False,
        **steps,
    )
    return _scaled(np.asarray(tsne.fit(vectors)))


def projection_save(directory: Path, coordinates: np.ndarray) -> None:
    np.save(Path(directory) / PROJECTION_FILE, np.asarray(coordinates, dtype=np.float32))


def projection_load(directory: Path) -> np.ndarray | None:
    """The stored positions (memory-mapped), or None for a version trained before maps."""
    path = Path(directory) / PROJECTION_FILE
    if not path.exists():
        return None
    return np.load(path, mmap_mode="r")


def point_place(
    vector: np.ndarray, vectors: np.ndarray, coordinates: np.ndarray, *, k: int = MARKER_NEIGHBOURS
) -> tuple[float, float] | None:
    """Where on the map a vector that is no product's goes: the similarity-weighted mean of
    the positions of its `k` nearest rows of `vectors` (unit length). None when no row is
    similar at all."""
    if len(vectors) == 0:
        return None
    similarity = np.asarray(vectors) @ np.asarray(vector, dtype=np.float32)
    k = min(k, len(similarity))
    nearest = np.argpartition(-similarity, k - 1)[:k]
    weights = np.clip(similarity[nearest], 0, None)
    if not weights.sum() > 0:
        return None
    x, y = (weights[:, None] * np.asarray(coordinates)[nearest]).sum(axis=0) / weights.sum()
    return float(x), float(y)


def _principal_plane(vectors: np.ndarray) -> np.ndarray:
    centred = vectors - vectors.mean(axis=0)
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2), dtype=np.float32)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    plane = centred @ axes[:2].T
    if plane.shape[1] < 2:  # one dimension only
        plane = np.hstack([plane, np.zeros((len(plane), 2 - plane.shape[1]))])
    return plane


def _scaled(points: np.ndarray) -> np.ndarray:
    """Centred and scaled so the farthest coordinate is 1 (the aspect ratio kept)."""
    points = np.asarray(points, dtype=np.float64)
    points = points - (points.max(axis=0) + points.min(axis=0)) / 2
    extent = np.abs(points).max()
    return (points / extent if extent > 0 else points).astype(np.float32)
