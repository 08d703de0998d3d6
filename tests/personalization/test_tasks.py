"""personalization.tasks: queueing a training, eagerly, on a real worker, or with no broker."""

import pytest
from factories import FAST, train

from personalization.models import EmbeddingVersion
from personalization.tasks import training_enqueue
from personalization.versions import (
    BrokerUnavailable,
    training_version_create,
)

Status = EmbeddingVersion.Status


def test_enqueue_runs_the_task_eagerly_without_a_broker(shop_log, settings, eager_celery):
    assert settings.CELERY_TASK_ALWAYS_EAGER
    version = training_enqueue(params=FAST, triggered_by="test")
    assert version.status == Status.SUCCEEDED and version.is_active


def test_broker_down_fails_plainly_and_loses_nothing(shop_log, broker_down):
    active = train()
    with pytest.raises(BrokerUnavailable, match="broker is unreachable"):
        training_enqueue(params=FAST, triggered_by="test")
    failed = EmbeddingVersion.objects.latest("id")
    assert failed.status == Status.FAILED and "broker is unreachable" in failed.error
    active.refresh_from_db()
    assert active.is_active
    assert training_version_create(params=FAST).status == Status.QUEUED  # the lock is free


@pytest.mark.redis
@pytest.mark.slow
def test_a_real_worker_trains_the_queued_version(shop_log, celery_worker):
    import time

    version = training_enqueue(params=FAST, triggered_by="test")
    # Handed to the worker, not run in this process: queued, or already started by the worker
    # (which may pick the task up before enqueue reads the version back).
    assert version.status in (Status.QUEUED, Status.RUNNING) and version.task_id
    deadline = time.monotonic() + 120
    while version.status in (Status.QUEUED, Status.RUNNING) and time.monotonic() < deadline:
        time.sleep(0.5)
        version.refresh_from_db()
    assert version.status == Status.SUCCEEDED, version.error
    assert version.is_active and version.metrics


def test_scheduled_retraining_skips_while_one_runs(db, models_dir):
    from personalization.tasks import retrain_embeddings_scheduled

    training_version_create(params=FAST)
    assert retrain_embeddings_scheduled.apply().get() == "skipped"
