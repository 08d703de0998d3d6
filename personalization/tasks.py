"""Celery tasks, thin wrappers that run the training services in a worker, and the call that
queues one (run at once when Celery is eager)."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from .event_stream import events_drain
from .models import EmbeddingVersion
from .state import visitor_states_expired_delete
from .training import embeddings_train
from .versions import (
    BrokerUnavailable,
    TrainingInProgress,
    training_version_create,
    version_fail,
)

logger = logging.getLogger(__name__)
_drain_failing = False  # this worker's last drain failed (Redis or the database away)


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


@shared_task(ignore_result=True)
def events_drain_scheduled() -> dict:
    """Celery beat's drain of the stream of live views into the event log (every
    CIS_EVENT_DRAIN_SECONDS, when CIS_EVENT_STREAM is on)."""
    global _drain_failing
    try:
        report = events_drain()
    except (RedisError, DatabaseError) as exc:
        if not _drain_failing:  # one warning while it lasts, not a traceback every 5 s
            logger.warning("the stream of views cannot be drained: %s: %s", type(exc).__name__, exc)
        _drain_failing = True
        return {"written": 0, "claimed": 0, "failed": str(exc)}
    if _drain_failing:
        logger.warning("the stream of views drains again")
    _drain_failing = False
    if report.read:
        logger.info(
            "drained %d views into the event log (%d taken over from a drainer that died) "
            "in %.2f s",
            report.written,
            report.claimed,
            report.seconds,
        )
    return {"written": report.written, "claimed": report.claimed}


@shared_task(ignore_result=True)
def visitor_states_expire() -> int:
    """Celery beat's daily removal of visitors' states gone stale (the database store)."""
    return visitor_states_expired_delete()


def training_enqueue(*, params: dict | None = None, triggered_by: str = "") -> EmbeddingVersion:
    """Create a version and hand it to a Celery worker (run at once when Celery is eager)."""
    version = training_version_create(params=params, triggered_by=triggered_by)
    try:
        result = train_embeddings.apply_async(args=[version.pk], retry=False)
    except (OperationalError, OSError) as exc:
        message = f"the task broker is unreachable ({type(exc).__name__}: {exc})"
        version_fail(version, message)
        raise BrokerUnavailable(message) from exc
    EmbeddingVersion.objects.filter(pk=version.pk, task_id="").update(task_id=result.id or "")
    version.refresh_from_db()
    return version
