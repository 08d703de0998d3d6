"""Celery tasks, thin wrappers that run the training services in a worker, and the call that
queues one (run at once when Celery is eager)."""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import DatabaseError
from kombu.exceptions import OperationalError

from common.redis_cluster import REDIS_FAILURES

from .event_stream import events_drain
from .models import EmbeddingVersion
from .partitions import event_partitions_ahead
from .state import visitor_states_expired_delete
from .training import embeddings_train
from .versions import (
    BrokerUnavailable,
    TrainingInProgress,
    TrainingNotQueued,
    TrainingStopped,
    training_version_create,
    trainings_stale_fail,
)

logger = logging.getLogger(__name__)
_drain_failing = False  # this worker's last drain failed (Redis or the database away)


@shared_task(
    bind=True,
    acks_late=True,  # a worker that dies before starting it leaves it to the next one
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def train_embeddings(self, version_id: int) -> str:
    """Train a queued version. Failures are recorded on the version, so they are not re-raised:
    retrying a training that failed on its data would fail the same way. A training whose
    worker died is not started again either (it may kill the next one): it is marked failed."""
    return _train(version_id, worker=self.request.hostname or "")


@shared_task(
    bind=True,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def retrain_embeddings_scheduled(self) -> str:
    """Celery beat's nightly retraining; skipped while another training is under way."""
    try:
        version = training_version_create(triggered_by="schedule")
    except TrainingInProgress as exc:
        logger.info("scheduled retraining skipped: %s", exc)
        return "skipped"
    return _train(version.pk, worker=self.request.hostname or "")


def _train(version_id: int, *, worker: str) -> str:
    try:
        version = embeddings_train(version_id, worker=worker)
    except TrainingNotQueued as exc:  # cancelled or given up on before its message came
        logger.warning("training refused: %s", exc)
        return "refused"
    except TrainingStopped as exc:  # cancelled or declared lost: the version says why
        logger.warning("training stopped: %s", exc)
        return "stopped"
    except Exception:
        logger.exception("training v%s failed", version_id)
        return "failed"
    return version.status


@shared_task(ignore_result=True)
def trainings_stale_check() -> int:
    """Celery beat's check for trainings whose worker is gone (no heartbeat)."""
    return trainings_stale_fail()


@worker_ready.connect
def trainings_of_this_worker_fail(sender, **kwargs) -> None:
    """A worker starting under a name that was training something was killed mid-training."""
    try:
        trainings_stale_fail(worker=sender.hostname)
    except DatabaseError as exc:
        logger.warning("could not check for trainings lost by a worker: %s", exc)


@shared_task(ignore_result=True)
def events_drain_scheduled() -> dict:
    """Celery beat's drain of the stream of live views into the event log (every
    CIS_EVENT_DRAIN_SECONDS, when CIS_EVENT_STREAM is on)."""
    global _drain_failing
    try:
        report = events_drain()
    except (*REDIS_FAILURES, DatabaseError) as exc:
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
def event_partitions_ahead_scheduled() -> list[str]:
    """Celery beat's daily creation of the event log's coming months (PostgreSQL)."""
    return event_partitions_ahead()


@shared_task(ignore_result=True)
def visitor_states_expire() -> int:
    """Celery beat's daily removal of visitors' states gone stale (the database store)."""
    return visitor_states_expired_delete()


def training_enqueue(*, params: dict | None = None, triggered_by: str = "") -> EmbeddingVersion:
    """Create a version and hand it to a Celery worker (run at once when Celery is eager).

    When the broker does not take the task (down, hung: every call is bounded by
    CIS_BROKER_TIMEOUT), the version is deleted: no row outlives a failed enqueue, and the
    single-run lock is free at once."""
    version = training_version_create(params=params, triggered_by=triggered_by)
    try:
        result = train_embeddings.apply_async(args=[version.pk], retry=False)
    except BaseException as exc:
        EmbeddingVersion.objects.filter(
            pk=version.pk, status=EmbeddingVersion.Status.QUEUED
        ).delete()
        if not isinstance(exc, (OperationalError, OSError)):
            raise
        message = f"the task broker is unreachable ({type(exc).__name__}: {exc})"
        logger.error("training not queued: %s", message)
        raise BrokerUnavailable(message) from exc
    EmbeddingVersion.objects.filter(pk=version.pk, task_id="").update(task_id=result.id or "")
    version.refresh_from_db()
    return version
