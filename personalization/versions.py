"""Embedding versions through their life: created queued (one training of a kind at a time),
started, reporting phases and epochs, succeeded or failed (or cancelled by staff, or lost by
their worker or the broker: failed with the reason), activated (or rolled back to), deleted.
Every state change is one UPDATE, so the admin's live status reads it at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections, models, transaction
from django.utils import timezone

from .engine.config import RecommenderConfig
from .engine.prod2vec import Prod2VecParams
from .model_files import version_files_delete, version_files_exist
from .models import EmbeddingVersion
from .serving import models_recheck

logger = logging.getLogger(__name__)

Status = EmbeddingVersion.Status
EpochCallback = Callable[[int, int, float], None]


class TrainingError(Exception):
    """Training cannot start or cannot go on; the message says why."""


class TrainingInProgress(TrainingError):
    """Another training of the same kind is queued or running."""


class BrokerUnavailable(TrainingError):
    """The Celery broker did not take the task; nothing was queued."""


class TrainingNotQueued(TrainingError):
    """The version is no longer queued (cancelled, given up on, or already trained): its
    message came late or twice, and it is not trained."""


class TrainingStopped(TrainingError):
    """The version stopped running while it trained (cancelled, or declared lost): its worker
    stops, and records nothing more on it."""


# Word2Vec's own defaults, which suit words (the seed trained on news text).
WORD_PARAMS = Prod2VecParams(
    vector_size=100, window=5, epochs=5, min_count=5, sg=False, negative=5, ns_exponent=0.75
)


def training_version_create(
    *,
    kind: str = EmbeddingVersion.Kind.PRODUCT,
    params: dict | None = None,
    triggered_by: str = "",
    corpus: Path | None = None,
    max_sentences: int | None = None,
    window_days: int | None = None,
) -> EmbeddingVersion:
    """A new queued version, or TrainingInProgress while one of its kind is queued or running.

    Product versions train on the view log (its last `window_days` days; default
    CIS_TRAINING_WINDOW, 0: all of it); word versions on the text file `corpus`.
    """
    if window_days is None:
        window_days = settings.CIS_TRAINING_WINDOW
    if window_days < 0:
        raise ValueError(f"a training window is a number of days >= 0, not {window_days}")
    trainings_stale_fail()
    is_product = kind == EmbeddingVersion.Kind.PRODUCT
    base = Prod2VecParams() if is_product else WORD_PARAMS
    merged = Prod2VecParams.from_dict({**base.as_dict(), **(params or {})}).as_dict()
    try:
        with transaction.atomic():
            return EmbeddingVersion.objects.create(
                kind=kind,
                params=merged,
                recommender_config=RecommenderConfig().as_dict() if is_product else {},
                holdout_share=settings.CIS_HOLDOUT_SHARE if is_product else 0.0,
                window_days=(window_days or None) if is_product else None,
                corpus=str(corpus or ""),
                max_sentences=max_sentences,
                triggered_by=triggered_by,
            )
    except IntegrityError:
        busy = EmbeddingVersion.objects.filter(
            kind=kind, status__in=[Status.QUEUED, Status.RUNNING]
        ).first()
        detail = (
            f"v{busy.pk} is {busy.status} since {busy.created_at:%Y-%m-%d %H:%M}" if busy else ""
        )
        raise TrainingInProgress(f"a {kind} training is already under way ({detail})") from None


def _stale() -> tuple[models.Q, models.Q]:
    """(running and silent too long, queued and never taken): what `trainings_stale_fail`
    fails, as filters, so that a read can ask the same question."""
    now = timezone.now()
    silent = now - timedelta(seconds=settings.CIS_TRAINING_STALE_SECONDS)
    never_taken = now - timedelta(seconds=settings.CIS_TRAINING_QUEUED_SECONDS)
    return (
        models.Q(status=Status.RUNNING, heartbeat_at__lt=silent),
        models.Q(status=Status.QUEUED, created_at__lt=never_taken),
    )


def trainings_stale_fail(*, worker: str = "") -> int:
    """Mark trainings whose worker or broker lost them as failed; returns how many.

    A worker killed mid-training cannot record its own failure; without this its version would
    hold the single-run lock. A running version whose heartbeat is older than
    CIS_TRAINING_STALE_SECONDS lost its worker, and so did one that `worker` (a worker starting
    under the same name) was running. A queued version that no worker took within
    CIS_TRAINING_QUEUED_SECONDS was lost by the broker, or waits behind a worker too busy: if
    its message comes after all, `version_start` refuses it.
    """
    now = timezone.now()
    silent, never_taken = _stale()
    failed = 0
    if worker:
        failed += EmbeddingVersion.objects.filter(status=Status.RUNNING, worker=worker).update(
            status=Status.FAILED,
            phase="",
            finished_at=now,
            error=f"interrupted: its worker ({worker}) stopped and started again",
        )
    failed += EmbeddingVersion.objects.filter(silent).update(
        status=Status.FAILED,
        phase="",
        finished_at=now,
        error=f"interrupted: its worker sent no heartbeat for "
        f"{settings.CIS_TRAINING_STALE_SECONDS:g} s (killed, or cut off from the database)",
    )
    failed += EmbeddingVersion.objects.filter(never_taken).update(
        status=Status.FAILED,
        phase="",
        finished_at=now,
        error=f"never started: no worker took it within {settings.CIS_TRAINING_QUEUED_SECONDS:g} s "
        "(CIS_TRAINING_QUEUED_SECONDS). Check that a Celery worker runs and is not busy with a "
        "long task, and that the broker kept its queue (a Redis restarted without its data "
        "loses the tasks queued on it); then retrain.",
    )
    if failed:
        logger.warning("marked %d training(s) failed: their worker or the broker lost them", failed)
    return failed


def trainings_stale(version: EmbeddingVersion) -> bool:
    """Whether `trainings_stale_fail` would fail this version (one read, no write)."""
    silent, never_taken = _stale()
    return EmbeddingVersion.objects.filter(silent | never_taken, pk=version.pk).exists()


@contextmanager
def version_heartbeat(version: EmbeddingVersion) -> Iterator[threading.Event]:
    """While the block runs, a thread writes the version's heartbeat every
    CIS_TRAINING_HEARTBEAT_SECONDS: its worker is alive whatever phase it is in.

    Yields an event set when a beat finds the version no longer running (cancelled, or declared
    lost): the training asks it between its steps, so it stops within a heartbeat."""
    stop, stopped = threading.Event(), threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.CIS_TRAINING_HEARTBEAT_SECONDS):
                try:
                    running = EmbeddingVersion.objects.filter(
                        pk=version.pk, status=Status.RUNNING
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError as exc:  # the next beat may pass; silence marks it stale
                    logger.warning("v%s: heartbeat not written: %s", version.pk, exc)
                    continue
                if not running:
                    stopped.set()
                    return
        finally:
            connections.close_all()  # this thread's own

    thread = threading.Thread(target=beat, name=f"heartbeat-v{version.pk}", daemon=True)
    thread.start()
    try:
        yield stopped
    finally:
        stop.set()
        thread.join()


def activation_decide(version: EmbeddingVersion, *, activate: bool | None = None) -> dict:
    """Whether a succeeded version should replace the active one, and why: `activate` (bool),
    `rule` (which rule decided), the version's holdout MRR, and the active version's id and MRR
    when they were compared. Stored on the version, so the admin can say why later."""
    decision = {"activate": False, "rule": "", "mrr": None, "active_id": None, "active_mrr": None}
    new = version.headline
    decision["mrr"] = None if new is None else new.get("mrr")
    if version.status != Status.SUCCEEDED:
        return decision | {"rule": "not succeeded"}
    if activate is False:
        return decision | {"rule": "never"}
    active = EmbeddingVersion.objects.filter(kind=version.kind, is_active=True).first()
    if active is None:
        return decision | {"activate": True, "rule": "none active"}
    old = active.headline
    decision |= {"active_id": active.pk, "active_mrr": None if old is None else old.get("mrr")}
    if activate is True:
        return decision | {"activate": True, "rule": "always"}
    if old is None:
        return decision | {"activate": True, "rule": "active not evaluated"}
    if new is None:
        return decision | {"rule": "not evaluated"}
    tolerance = settings.CIS_ACTIVATION_TOLERANCE
    return decision | {
        "activate": new["mrr"] >= old["mrr"] - tolerance,
        "rule": "mrr",
        "tolerance": tolerance,
    }


def activation_due(version: EmbeddingVersion, *, activate: bool | None = None) -> bool:
    """Whether a succeeded version should replace the active one (`activation_decide`)."""
    return activation_decide(version, activate=activate)["activate"]


def version_activate(version: EmbeddingVersion) -> None:
    """Make `version` the one that serves its kind (also a rollback to an older version)."""
    if version.status != Status.SUCCEEDED:
        raise TrainingError(f"v{version.pk} is {version.status}; only a succeeded one can serve")
    if not version_files_exist(version.path):
        raise TrainingError(f"v{version.pk}'s files are missing ({version.path})")
    with transaction.atomic():
        EmbeddingVersion.objects.select_for_update().filter(
            kind=version.kind, is_active=True
        ).exclude(pk=version.pk).update(is_active=False)
        EmbeddingVersion.objects.filter(pk=version.pk).update(is_active=True)
        # This process serves the new version at once; others notice within
        # CIS_MODEL_CHECK_SECONDS.
        transaction.on_commit(lambda: models_recheck(version.kind))
    logger.info("%s v%s is now active", version.kind, version.pk)


def version_cancel(version: EmbeddingVersion, *, by: str) -> None:
    """Stop a queued or running training: it is failed at once ("cancelled by `by`"), which
    frees the single-run lock. Its worker stops at its next epoch, phase or step (its heartbeat
    tells it) and leaves the version as it is; a queued version's message is refused."""
    cancelled = EmbeddingVersion.objects.filter(
        pk=version.pk, status__in=[Status.QUEUED, Status.RUNNING]
    ).update(status=Status.FAILED, phase="", finished_at=timezone.now(), error=f"cancelled by {by}")
    version.refresh_from_db()
    if not cancelled:
        raise TrainingError(f"v{version.pk} is {version.status}; only a training under way stops")
    logger.info("training v%s cancelled by %s", version.pk, by)


def version_delete(version: EmbeddingVersion) -> None:
    """Delete a version that neither serves nor trains, with its files."""
    if version.is_active or version.status in (Status.QUEUED, Status.RUNNING):
        raise TrainingError(f"v{version.pk} is active or training; it cannot be deleted")
    if version.path:
        version_files_delete(version.path)
    version.delete()


def version_start(version_id: int, *, worker: str = "") -> EmbeddingVersion:
    """Mark the queued version `version_id` running on `worker`. One UPDATE from queued: a
    version cancelled or given up on before its message came is refused (TrainingNotQueued),
    and so is a second delivery of one already started."""
    now = timezone.now()
    started = EmbeddingVersion.objects.filter(pk=version_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now, worker=worker
    )
    version = EmbeddingVersion.objects.filter(pk=version_id).first()
    if version is None:
        raise TrainingError(f"v{version_id} does not exist (its enqueue failed, or it was deleted)")
    if not started:
        reason = f" ({version.error})" if version.error else ""
        raise TrainingNotQueued(
            f"v{version_id} is {version.status}{reason}, not queued; not training it"
        )
    return version


def version_phase(
    version: EmbeddingVersion, phase: str, *, epochs: int | None = None, steps: int = 0
) -> None:
    """Record the phase a training enters (with its `steps` when it counts them);
    TrainingStopped if the version no longer runs."""
    now = timezone.now()
    fields = {"phase": phase, "heartbeat_at": now, "phase_started_at": now, "step": 0}
    fields["steps"] = steps
    if epochs is not None:
        fields["epochs"] = epochs
    if not EmbeddingVersion.objects.filter(pk=version.pk, status=Status.RUNNING).update(**fields):
        raise version_stopped_error(version, "stopping")


def version_step_record(version: EmbeddingVersion, step: int, steps: int) -> None:
    """Note how far the current phase has got (`step` of `steps`); TrainingStopped if the
    version no longer runs."""
    running = EmbeddingVersion.objects.filter(pk=version.pk, status=Status.RUNNING).update(
        step=step, steps=steps, heartbeat_at=timezone.now()
    )
    if not running:
        raise version_stopped_error(version, "stopping")


def version_epoch_record(
    version: EmbeddingVersion, on_epoch: EpochCallback | None, epoch: int, epochs: int, loss: float
) -> None:
    """Note an epoch's loss on the version (the admin's live chart), then tell `on_epoch`.

    Stops the training (TrainingStopped) if the version is no longer running: it was cancelled
    or declared lost (silent too long), and a new training may already hold the lock."""
    version.losses = [*version.losses, loss]
    running = EmbeddingVersion.objects.filter(pk=version.pk, status=Status.RUNNING).update(
        epoch=epoch, epochs=epochs, losses=version.losses, heartbeat_at=timezone.now()
    )
    if not running:
        raise version_stopped_error(version, "stopping")
    if on_epoch is not None:
        on_epoch(epoch, epochs, loss)


def version_succeed(version: EmbeddingVersion, **results) -> None:
    now = timezone.now()
    succeeded = EmbeddingVersion.objects.filter(pk=version.pk, status=Status.RUNNING).update(
        status=Status.SUCCEEDED, phase="", finished_at=now, heartbeat_at=now, **results
    )
    if not succeeded:
        raise version_stopped_error(version, "not serving it")
    version.refresh_from_db()


def version_fail(version: EmbeddingVersion, error: str) -> None:
    """Record a training's failure, unless it already ended: a cancelled version keeps its
    reason, not the error its stopping raised."""
    failed = EmbeddingVersion.objects.filter(
        pk=version.pk, status__in=[Status.QUEUED, Status.RUNNING]
    ).update(status=Status.FAILED, phase="", finished_at=timezone.now(), error=error[:4000])
    if failed:
        logger.error("training v%s failed: %s", version.pk, error)


def version_stopped_error(version: EmbeddingVersion, then: str) -> TrainingStopped:
    """The error for a training whose version stopped running under it, with the reason."""
    try:
        version.refresh_from_db(fields=["status", "error"])
    except EmbeddingVersion.DoesNotExist:
        return TrainingStopped(f"v{version.pk} was deleted while it trained; {then}")
    reason = f" ({version.error})" if version.error else ""
    return TrainingStopped(f"v{version.pk} was {version.status} while it trained{reason}; {then}")
