"""personalization.serving: the active model, loaded once per process and swapped on activation."""

import logging
import shutil

import numpy as np
import pytest
from factories import version_make

from personalization.engine.projection import PROJECTION_FILE
from personalization.serving import (
    model_active,
    models_loaded_clear,
    models_recheck,
    product_vectors_active,
    recommender_active,
)
from personalization.versions import version_activate

FIRST = {"a": (1.0, 0.0), "b": (0.0, 1.0)}
SECOND = {"a": (0.0, 2.0), "b": (3.0, 0.0), "c": (1.0, 1.0)}


def active_version_id() -> int | None:
    model = model_active()
    return model.version_id if model is not None else None


@pytest.fixture
def check_always(settings):
    """Look the active version up on every call, as if the check interval had just passed."""
    settings.CIS_MODEL_CHECK_SECONDS = 0


def test_the_active_version_is_loaded_once_memory_mapped(db, models_dir, check_always):
    version = version_make(models_dir, FIRST)
    version_activate(version)
    recommender = recommender_active()
    assert recommender is not None and recommender.items == ["a", "b"]
    assert isinstance(recommender.vectors.vectors, np.memmap)
    assert recommender_active() is recommender  # checked again, not loaded again
    assert active_version_id() == version.pk


def test_activating_another_version_swaps_the_model_without_a_restart(db, models_dir, check_always):
    first, second = version_make(models_dir, FIRST), version_make(models_dir, SECOND)
    version_activate(first)
    assert recommender_active().items == ["a", "b"]
    version_activate(second)
    assert recommender_active().items == ["a", "b", "c"]
    assert active_version_id() == second.pk
    version_activate(first)  # a rollback swaps back just the same
    assert recommender_active().items == ["a", "b"]


def test_the_database_is_asked_at_most_once_per_check_interval(
    db, models_dir, settings, django_assert_num_queries
):
    settings.CIS_MODEL_CHECK_SECONDS = 60
    first, second = version_make(models_dir, FIRST), version_make(models_dir, SECOND)
    version_activate(first)
    with django_assert_num_queries(1):
        assert active_version_id() == first.pk
    version_activate(second)
    with django_assert_num_queries(0):
        assert active_version_id() == first.pk  # within the interval: no query
    models_loaded_clear()
    assert active_version_id() == second.pk


def test_no_model_is_served_when_nothing_is_active(db, models_dir, check_always):
    version_make(models_dir, FIRST)  # succeeded but never activated
    assert recommender_active() is None
    assert product_vectors_active() is None
    assert active_version_id() is None


def test_an_active_version_without_its_files_serves_no_model_and_warns_once(
    db, models_dir, check_always, caplog
):
    version = version_make(models_dir, FIRST)
    version_activate(version)
    shutil.rmtree(models_dir / version.path)
    with caplog.at_level(logging.WARNING, logger="personalization.serving"):
        assert recommender_active() is None
        assert recommender_active() is None
    warnings = [r for r in caplog.records if "cannot be loaded" in r.getMessage()]
    assert len(warnings) == 1 and f"v{version.pk}" in warnings[0].getMessage()


def test_files_that_come_back_are_loaded_at_the_next_check(db, models_dir, check_always):
    version = version_make(models_dir, FIRST)
    version_activate(version)
    moved = models_dir / "elsewhere"
    shutil.move(models_dir / version.path, moved)
    assert recommender_active() is None
    shutil.move(moved, models_dir / version.path)
    assert recommender_active().items == ["a", "b"]


def test_product_vectors_map_skus_to_the_active_unit_vectors(db, models_dir, check_always):
    version_activate(version_make(models_dir, SECOND))
    vectors = product_vectors_active()
    assert len(vectors) == 3 and list(vectors) == ["a", "b", "c"]
    assert "c" in vectors and "z" not in vectors
    assert vectors.vector_size == 2
    assert np.allclose(vectors["a"], [0, 1]) and np.allclose(vectors["c"], [0.5**0.5, 0.5**0.5])
    with pytest.raises(KeyError):
        vectors["z"]


def test_a_broken_map_leaves_the_model_serving_without_a_map(db, models_dir, check_always, caplog):
    version = version_make(models_dir, SECOND)
    np.save(models_dir / version.path / PROJECTION_FILE, np.zeros((2, 2)))  # 3 products
    version_activate(version)
    with caplog.at_level(logging.WARNING, logger="personalization.serving"):
        model = model_active()
    assert model is not None and model.recommender.items == ["a", "b", "c"]
    assert model.projection is None
    assert "map" in caplog.text and "cannot be used" in caplog.text


def test_an_activation_is_served_at_once_and_a_recheck_keeps_what_is_still_active(
    db, models_dir, settings, django_capture_on_commit_callbacks
):
    settings.CIS_MODEL_CHECK_SECONDS = 60
    first, second = version_make(models_dir, FIRST), version_make(models_dir, SECOND)
    with django_capture_on_commit_callbacks(execute=True):
        version_activate(first)
    loaded = recommender_active()
    assert loaded.items == ["a", "b"]
    models_recheck("product")  # e.g. another kind's activation: nothing changed here
    assert recommender_active() is loaded  # looked up again, not loaded again
    with django_capture_on_commit_callbacks(execute=True):
        version_activate(second)  # noticed by this process at once, not after 60 s
    assert recommender_active().items == ["a", "b", "c"]
