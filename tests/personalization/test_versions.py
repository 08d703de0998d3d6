"""personalization.versions: the single-run lock, activation, rollback and stale versions."""

import threading
from datetime import timedelta

import numpy as np
import pytest
from conftest import eventually
from django.db import IntegrityError
from django.utils import timezone
from factories import FAST, train

from personalization.engine.projection import projection_compute
from personalization.models import EmbeddingVersion
from personalization.training import MAP_STEPS, PhaseClock, embeddings_train
from personalization.versions import (
    TrainingError,
    TrainingInProgress,
    TrainingNotQueued,
    TrainingStopped,
    training_version_create,
    trainings_stale,
    trainings_stale_fail,
    version_activate,
    version_cancel,
    version_heartbeat,
    version_start,
)

Status = EmbeddingVersion.Status


def score_as(version, mrr):
    """Record a holdout MRR@20 for `version`, to set up the activation comparison."""
    metrics = {"default": {"hr": mrr, "mrr": mrr, "predictions": 100, "k": 20}}
    EmbeddingVersion.objects.filter(pk=version.pk).update(metrics=metrics)


def test_version_worse_than_the_active_one_is_not_activated_unless_forced(shop_log):
    active = train()
    score_as(active, 99.0)
    worse = train()
    assert worse.status == Status.SUCCEEDED and worse.headline["mrr"] < 99.0
    assert not worse.is_active
    active.refresh_from_db()
    assert active.is_active
    forced = train(activate=True)
    assert forced.is_active
    assert EmbeddingVersion.objects.filter(is_active=True).count() == 1
    never = train(activate=False)
    assert never.status == Status.SUCCEEDED and not never.is_active


def test_version_not_worse_than_the_active_one_is_activated(shop_log):
    active = train()
    score_as(active, 0.5)
    better = train()
    assert better.is_active


def test_only_one_training_runs_at_a_time(db, models_dir):
    running = training_version_create(params=FAST)
    EmbeddingVersion.objects.filter(pk=running.pk).update(
        status=Status.RUNNING, heartbeat_at=timezone.now()
    )
    with pytest.raises(TrainingInProgress, match=f"v{running.pk} is running"):
        training_version_create(params=FAST)
    with pytest.raises(IntegrityError):  # the database itself refuses a second one
        EmbeddingVersion.objects.create(status=Status.QUEUED)


def test_a_training_without_a_heartbeat_no_longer_blocks_the_next(db, models_dir, settings):
    dead = training_version_create(params=FAST)
    silent = timezone.now() - timedelta(seconds=settings.CIS_TRAINING_STALE_SECONDS + 1)
    EmbeddingVersion.objects.filter(pk=dead.pk).update(status=Status.RUNNING, heartbeat_at=silent)
    assert trainings_stale_fail() == 1
    dead.refresh_from_db()
    assert dead.status == Status.FAILED and "no heartbeat" in dead.error
    assert training_version_create(params=FAST).status == Status.QUEUED


def test_a_training_with_a_recent_heartbeat_is_left_alone(db, models_dir, settings):
    alive = training_version_create(params=FAST)
    recent = timezone.now() - timedelta(seconds=settings.CIS_TRAINING_STALE_SECONDS - 5)
    EmbeddingVersion.objects.filter(pk=alive.pk).update(status=Status.RUNNING, heartbeat_at=recent)
    assert trainings_stale_fail() == 0
    assert trainings_stale_fail(worker="celery@elsewhere") == 0
    assert trainings_stale_fail(worker="celery@here") == 0  # it has no worker recorded


def test_a_worker_starting_again_fails_what_it_was_training(db, models_dir):
    mine = training_version_create(params=FAST)
    EmbeddingVersion.objects.filter(pk=mine.pk).update(
        status=Status.RUNNING, heartbeat_at=timezone.now(), worker="celery@here"
    )
    assert trainings_stale_fail(worker="celery@elsewhere") == 0
    assert trainings_stale_fail(worker="celery@here") == 1
    mine.refresh_from_db()
    assert mine.status == Status.FAILED and "stopped and started again" in mine.error


def test_the_heartbeat_beats_while_a_phase_runs(transactional_db, models_dir, settings):
    settings.CIS_TRAINING_HEARTBEAT_SECONDS = 0.05
    version = training_version_create(params=FAST)
    long_ago = timezone.now() - timedelta(hours=1)
    EmbeddingVersion.objects.filter(pk=version.pk).update(
        status=Status.RUNNING, heartbeat_at=long_ago
    )
    beats = []

    def beaten_twice() -> bool:
        version.refresh_from_db()
        if version.heartbeat_at not in (long_ago, *beats):
            beats.append(version.heartbeat_at)
        return len(beats) >= 2

    entered = timezone.now()
    with version_heartbeat(version):
        eventually(beaten_twice, what="two heartbeats")  # a long phase that reports nothing
    assert entered <= beats[0] < beats[1]  # written while the phase ran, again and again
    beating = [t for t in threading.enumerate() if t.name == f"heartbeat-v{version.pk}"]
    assert not beating  # the thread stopped with the block: it writes nothing more


def test_a_training_declared_lost_stops_and_does_not_serve(shop_log):
    def declared_lost(epoch, epochs, loss):  # what the stale check does to a silent worker
        EmbeddingVersion.objects.filter(status=Status.RUNNING).update(
            status=Status.FAILED, error="interrupted: its worker sent no heartbeat"
        )

    version = training_version_create(params={**FAST, "epochs": 5}, triggered_by="test")
    with pytest.raises(TrainingStopped, match="was failed while it trained"):
        embeddings_train(version.pk, on_epoch=declared_lost)
    version.refresh_from_db()
    assert version.status == Status.FAILED and version.epoch == 1 and not version.is_active


def test_a_version_is_trained_once_only(shop_log):
    version = train()
    with pytest.raises(TrainingNotQueued, match="not queued"):
        embeddings_train(version.pk)


# A queued version no worker takes: the broker lost its message, or the worker is busy.


def queued_for(version: EmbeddingVersion, seconds: float) -> None:
    EmbeddingVersion.objects.filter(pk=version.pk).update(
        created_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_a_queued_version_no_worker_took_within_the_bound_fails_and_frees_retrain(
    db, models_dir, settings
):
    settings.CIS_TRAINING_QUEUED_SECONDS = 300
    lost = training_version_create(params=FAST)
    queued_for(lost, 295)
    assert not trainings_stale(lost) and trainings_stale_fail() == 0
    with pytest.raises(TrainingInProgress, match=f"v{lost.pk} is queued"):
        training_version_create(params=FAST)
    queued_for(lost, 305)
    assert trainings_stale(lost)
    # Retrain itself runs the check first: no need to wait for beat's.
    assert training_version_create(params=FAST).status == Status.QUEUED
    lost.refresh_from_db()
    assert lost.status == Status.FAILED and lost.finished_at and lost.started_at is None
    assert lost.error.startswith("never started: no worker took it within 300 s")
    assert "Celery worker runs" in lost.error and "broker kept its queue" in lost.error


def test_the_late_message_of_a_version_given_up_on_is_refused_and_changes_nothing(
    shop_log, models_dir, settings
):
    settings.CIS_TRAINING_QUEUED_SECONDS = 300
    late = training_version_create(params=FAST)
    queued_for(late, 301)
    assert trainings_stale_fail() == 1
    late.refresh_from_db()
    given_up = (late.status, late.error, late.finished_at)
    successor = training_version_create(params=FAST)  # Retrain, while the worker was busy
    with pytest.raises(TrainingNotQueued, match=f"v{late.pk} is failed \\(never started: "):
        embeddings_train(late.pk, worker="celery@busy")  # the message, at last
    late.refresh_from_db()
    assert (late.status, late.error, late.finished_at) == given_up
    assert late.started_at is None and late.worker == "" and not late.path
    assert not (models_dir / "product" / f"v{late.pk}").exists()
    assert embeddings_train(successor.pk).status == Status.SUCCEEDED  # the lock was its own


# Cancelling.


def test_cancelling_a_queued_version_frees_retrain_and_its_message_is_refused(shop_log):
    queued = training_version_create(params=FAST, triggered_by="test")
    version_cancel(queued, by="alice")
    assert queued.status == Status.FAILED and queued.error == "cancelled by alice"
    assert training_version_create(params=FAST).status == Status.QUEUED
    with pytest.raises(TrainingNotQueued, match="cancelled by alice"):
        embeddings_train(queued.pk)
    queued.refresh_from_db()
    assert queued.error == "cancelled by alice" and queued.started_at is None


def test_a_running_training_cancelled_stops_at_its_next_epoch_and_keeps_the_reason(
    shop_log, models_dir
):
    def cancelled_at_epoch_1(epoch, epochs, loss):  # staff press Cancel while it trains
        if epoch == 1:
            version_cancel(EmbeddingVersion.objects.get(status=Status.RUNNING), by="alice")

    version = training_version_create(params={**FAST, "epochs": 5}, triggered_by="test")
    with pytest.raises(TrainingStopped, match="cancelled by alice"):
        embeddings_train(version.pk, on_epoch=cancelled_at_epoch_1)
    version.refresh_from_db()
    assert version.status == Status.FAILED and version.error == "cancelled by alice"
    assert version.epoch == 1 and not version.is_active and not version.path
    assert not (models_dir / "product" / f"v{version.pk}").exists()


def test_a_training_cancelled_after_its_last_epoch_stops_at_the_next_phase(shop_log, models_dir):
    def cancelled_at_the_last_epoch(epoch, epochs, loss):
        if epoch == epochs:
            version_cancel(EmbeddingVersion.objects.get(status=Status.RUNNING), by="alice")

    version = training_version_create(params=FAST, triggered_by="test")
    with pytest.raises(TrainingStopped, match="cancelled by alice"):
        embeddings_train(version.pk, on_epoch=cancelled_at_the_last_epoch)
    version.refresh_from_db()
    assert version.status == Status.FAILED and version.error == "cancelled by alice"
    assert version.epoch == version.epochs  # every epoch ran: the phase after stopped it
    assert version.phase == "" and version.vocabulary == 0 and not version.metrics
    assert not (models_dir / "product" / f"v{version.pk}").exists()


def test_a_training_cancelled_mid_phase_stops_within_a_heartbeat(
    transactional_db, models_dir, settings
):
    """Drawing the map has no epochs: the heartbeat sees the version cancelled, and t-SNE's
    next step stops the training."""
    settings.CIS_TRAINING_HEARTBEAT_SECONDS = 0.05
    version = version_start(training_version_create(params=FAST).pk, worker="celery@here")
    vectors = np.random.default_rng(0).normal(size=(200, 8))
    with version_heartbeat(version) as stopped:
        clock = PhaseClock(version, stopped=stopped)
        drawing = clock.phase("drawing the map", steps=MAP_STEPS)
        version_cancel(version, by="alice")
        eventually(stopped.is_set, what="the heartbeat to see the version cancelled")
        with pytest.raises(TrainingStopped, match="cancelled by alice"):
            projection_compute(vectors, progress=drawing)
    version.refresh_from_db()
    assert version.status == Status.FAILED and version.error == "cancelled by alice"


def test_only_a_training_under_way_can_be_cancelled(shop_log):
    done = train()
    with pytest.raises(TrainingError, match=f"v{done.pk} is succeeded; only a training under"):
        version_cancel(done, by="alice")
    done.refresh_from_db()
    assert done.status == Status.SUCCEEDED and done.error == ""


def test_rollback_activates_an_older_version(shop_log):
    first = train()
    second = train(activate=True)
    version_activate(first)
    assert list(EmbeddingVersion.objects.filter(is_active=True)) == [first]
    second.refresh_from_db()
    assert not second.is_active


def test_only_a_succeeded_version_with_its_files_can_serve(shop_log, models_dir):
    failed = EmbeddingVersion.objects.create(status=Status.FAILED)
    with pytest.raises(TrainingError, match="only a succeeded one can serve"):
        version_activate(failed)
    version = train()
    (models_dir / version.path).rename(models_dir / "moved")
    with pytest.raises(TrainingError, match="files are missing"):
        version_activate(version)


def test_unknown_parameter_is_refused_before_anything_is_queued(db, models_dir):
    with pytest.raises(ValueError, match="unknown Prod2VecParams key"):
        training_version_create(params={"dimensions": 10})
    assert not EmbeddingVersion.objects.exists()
