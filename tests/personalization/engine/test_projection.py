"""personalization.engine.projection: the map's layout and where a session vector sits on it."""

import numpy as np
import pytest

from personalization.engine.projection import point_place, projection_compute


def clusters(count_each: int, *, dims: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well separated groups of unit vectors and each vector's group."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dims)[:3] * 3
    labels = np.repeat(np.arange(3), count_each)
    vectors = centres[labels] + rng.normal(scale=0.4, size=(len(labels), dims))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), labels


def test_projection_keeps_neighbours_together():
    vectors, labels = clusters(40)
    coordinates = projection_compute(vectors)
    assert coordinates.shape == (120, 2) and coordinates.dtype == np.float32
    assert np.abs(coordinates).max() == pytest.approx(1.0)
    distances = np.linalg.norm(coordinates[:, None] - coordinates[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    nearest = distances.argmin(axis=1)
    assert (labels[nearest] == labels).mean() > 0.95  # each point's neighbour is of its group
    assert np.array_equal(coordinates, projection_compute(vectors))  # deterministic


def test_projection_of_a_few_points_is_their_principal_plane():
    vectors, _ = clusters(2)
    coordinates = projection_compute(vectors)
    assert coordinates.shape == (6, 2) and np.isfinite(coordinates).all()
    assert projection_compute(np.zeros((0, 4))).shape == (0, 2)
    assert projection_compute(np.ones((1, 4))).shape == (1, 2)


def test_a_session_vector_is_placed_among_its_nearest_products():
    vectors, labels = clusters(10, dims=6)
    coordinates = projection_compute(vectors)
    place = point_place(vectors[labels == 1].mean(axis=0), vectors, coordinates)
    centre = coordinates[labels == 1].mean(axis=0)
    others = [coordinates[labels == g].mean(axis=0) for g in (0, 2)]
    assert np.linalg.norm(np.array(place) - centre) < min(
        np.linalg.norm(np.array(place) - other) for other in others
    )
    assert (
        point_place(-np.ones(6, np.float32), np.eye(6, dtype=np.float32), coordinates[:6]) is None
    )


def test_progress_counts_every_iteration_and_changes_nothing():
    from personalization.engine.projection import EXAGGERATION_ITERATIONS, ITERATIONS

    class Bar:
        total, done = None, 0

        def update(self, n=1):
            self.done += n

    vectors = np.random.default_rng(3).normal(size=(60, 8)).astype(np.float32)
    bar = Bar()
    coordinates = projection_compute(vectors, progress=bar)
    assert bar.total == EXAGGERATION_ITERATIONS + ITERATIONS == bar.done
    assert np.array_equal(coordinates, projection_compute(vectors))
