"""Celery tasks: thin wrappers that run the training services in a worker."""

import logging

from celery import shared_task
from django.conf import settings

from .training import TrainingInProgress, embeddings_train, training_version_create

logger = logging.getLogger(__name__)


@shared_task(
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def train_embeddings(version_id: int) -> str:
    """Train a queued version. Failures are recorded on the version, so they are not re-raised:
    retrying a training that failed on its data would fail the same way."""
    try:
        version = embeddings_train(version_id)
    except Exception:
        logger.exception("training v%s failed", version_id)
        return "failed"
    return version.status


@shared_task(
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def retrain_embeddings_scheduled() -> str:
    """Celery beat's nightly retraining; skipped while another training is under way."""
    try:
        version = training_version_create(triggered_by="schedule")
    except TrainingInProgress as exc:
        logger.info("scheduled retraining skipped: %s", exc)
        return "skipped"
    return train_embeddings(version.pk)
