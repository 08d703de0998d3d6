"""The training panel of the admin: where a training is (the live status the page polls),
starting a retraining, and the charts and tables of versions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from ..engine.config import RecommenderConfig
from ..models import EmbeddingVersion
from ..versions import trainings_stale, trainings_stale_fail
from .charts import Series, line_chart_svg, number_short
from .explaining import DEFAULT_METHOD, activation_text, duration_text

logger = logging.getLogger(__name__)

Status = EmbeddingVersion.Status
IN_PROGRESS = (Status.QUEUED, Status.RUNNING)
PACE_AFTER = 0.1  # the share of a phase's steps after which its own pace tells the time left


def training_current(kind: str = EmbeddingVersion.Kind.PRODUCT) -> EmbeddingVersion | None:
    """The queued or running version of `kind`, else its latest one, else None.

    A running version whose heartbeat went silent is marked failed first: beat's check needs a
    worker to run it, and the worker that died may have been the only one."""
    versions = EmbeddingVersion.objects.filter(kind=kind)
    current = versions.filter(status__in=IN_PROGRESS).first()
    if current is not None and trainings_stale(current):
        trainings_stale_fail()
        current = versions.filter(status__in=IN_PROGRESS).first()
    return current or versions.first()


def version_progress(version: EmbeddingVersion, *, now: datetime | None = None) -> str:
    """Where a training is: "queued", "epoch 7/20 · about 1 min 10 s left", "drawing the map
    47% · about 12 s left", "evaluating · about 5.0 s left (typically 8.0 s)", "done, 20
    epochs"."""
    if version.status == Status.QUEUED:
        return "queued"
    if version.status == Status.RUNNING:
        where = version.phase or "running"
        if version.phase == "training" and version.epochs:
            where = f"epoch {version.epoch}/{version.epochs}"
        elif version.steps:
            where = f"{version.phase} {min(100, 100 * version.step // version.steps)}%"
        left = phase_time_left(version, now=now)
        return f"{where} · {left}" if left else where
    if version.status == Status.FAILED:
        return f"failed at epoch {version.epoch}/{version.epochs}" if version.epoch else "failed"
    return f"done, {version.epochs} epochs" if version.epochs else "done"


def phase_time_left(version: EmbeddingVersion, *, now: datetime | None = None) -> str:
    """How long the running phase has left: at its pace so far once a tenth of its steps (or
    epochs) are done, else against how long the last training that went through it took."""
    if version.phase_started_at is None:
        return ""
    elapsed = ((now or timezone.now()) - version.phase_started_at).total_seconds()
    if version.phase == "training":
        done, total = version.epoch, version.epochs
    else:
        done, total = version.step, version.steps
    typical = phase_typical_seconds(version)
    # a phase's first steps carry its setup (t-SNE's affinities, the first epoch's
    # vocabulary): their pace overstates the time left, the last training's time does not
    settled = total and done / total >= PACE_AFTER
    if total and done and elapsed >= 1 and (settled or typical is None or elapsed > typical):
        return f"about {duration_text(elapsed * (total - done) / done)} left"
    if typical is not None and elapsed < typical:
        return f"about {duration_text(typical - elapsed)} left (typically {duration_text(typical)})"
    if typical is None:
        return f"{duration_text(elapsed)} in" if elapsed >= 1 else ""
    return f"{duration_text(elapsed)} in, typically {duration_text(typical)}"


def phase_typical_seconds(version: EmbeddingVersion) -> float | None:
    """How long the last succeeded training of its kind spent in the phase `version` is in."""
    timings = (
        EmbeddingVersion.objects.filter(kind=version.kind, status=Status.SUCCEEDED)
        .exclude(timings={})
        .order_by("-finished_at", "-id")
        .values_list("timings", flat=True)
        .first()
    )
    seconds = (timings or {}).get(version.phase)
    return float(seconds) if seconds is not None else None


def version_elapsed(version: EmbeddingVersion, *, now: datetime | None = None) -> float | None:
    """Seconds since the training started, up to its end if it ended."""
    if version.started_at is None:
        return None
    end = version.finished_at or now or timezone.now()
    return max(0.0, (end - version.started_at).total_seconds())


def training_status(version: EmbeddingVersion | None) -> dict:
    """The JSON the status panel polls; the same keys whether or not there is a version."""
    if version is None:
        return {
            "id": None,
            "kind": None,
            "status": None,
            "in_progress": False,
            "is_active": False,
            "phase": "",
            "progress": "",
            "epoch": 0,
            "epochs": 0,
            "step": 0,
            "steps": 0,
            "losses": [],
            "started_at": None,
            "finished_at": None,
            "heartbeat_at": None,
            "elapsed_seconds": None,
            "elapsed_text": "",
            "error": "",
        }
    elapsed = version_elapsed(version)
    return {
        "id": version.pk,
        "kind": version.kind,
        "status": version.status,
        "in_progress": version.status in IN_PROGRESS,
        "is_active": version.is_active,
        "phase": version.phase,
        "progress": version_progress(version),
        "epoch": version.epoch,
        "epochs": version.epochs,
        "step": version.step if version.status == Status.RUNNING else 0,
        "steps": version.steps if version.status == Status.RUNNING else 0,
        "losses": version.losses,
        "started_at": _iso(version.started_at),
        "finished_at": _iso(version.finished_at),
        "heartbeat_at": _iso(version.heartbeat_at),
        "elapsed_seconds": None if elapsed is None else round(elapsed, 1),
        "elapsed_text": "" if elapsed is None else duration_text(elapsed),
        "error": version.error,
    }


def retrain_start(*, triggered_by: str) -> tuple[int, str]:
    """Enqueue a product training; returns the message level and text to show the user.

    Every known failure becomes a message rather than an error page: the request that asked
    for a training must always get an answer it can act on.
    """
    # Imported here so the admin still loads where the training stack (gensim) cannot.
    try:
        from ..tasks import training_enqueue
        from ..versions import BrokerUnavailable, TrainingError, TrainingInProgress
    except ImportError as exc:
        logger.exception("the training code cannot be imported")
        return messages.ERROR, f"Training is not available on this server ({exc})."
    try:
        version = training_enqueue(triggered_by=triggered_by)
    except TrainingInProgress as exc:
        return messages.WARNING, f"No new training started: {exc}. Its progress is shown below."
    except BrokerUnavailable as exc:
        return messages.ERROR, (
            f"Nothing was queued: {exc}. No version was created and the active version keeps "
            "serving. Start the broker (Redis) and a Celery worker, then retrain again."
        )
    except TrainingError as exc:
        return messages.ERROR, f"Training could not start: {exc}"
    except Exception as exc:  # the page must answer; the log keeps the trace
        logger.exception("retraining could not start")
        return messages.ERROR, (
            f"Training could not start ({type(exc).__name__}: {exc}). The server log has details."
        )
    if version.status in IN_PROGRESS:
        return messages.SUCCESS, (
            f"Training v{version.pk} queued: a Celery worker will run it; its progress is "
            "shown below."
        )
    if version.status == Status.FAILED:
        return messages.ERROR, f"Training v{version.pk} finished: failed. {version.error}"
    if version.is_active:
        return messages.SUCCESS, f"Training v{version.pk} finished: succeeded; it is now active."
    return messages.SUCCESS, (
        f"Training v{version.pk} finished: succeeded. {activation_text(version)}"
    )


def metrics_charts_svg(versions: Sequence[EmbeddingVersion]) -> list[SafeString]:
    """Two charts, HR@k and MRR@k by version (oldest first): the shop's default recommender as
    a solid line, each baseline dashed."""
    evaluated = [version for version in versions if version.metrics]
    methods = [DEFAULT_METHOD] if any(DEFAULT_METHOD in v.metrics for v in evaluated) else []
    for version in evaluated:
        methods += [method for method in version.metrics if method not in methods]
    k = next((v.metrics[m].get("k") for v in evaluated for m in v.metrics), settings.CIS_EVAL_K)
    x_ticks = [(index, f"v{version.pk}") for index, version in enumerate(evaluated)]
    charts = []
    for metric, name in (("hr", "HR"), ("mrr", "MRR")):
        series = []
        for method in methods:
            rows = [(i, v) for i, v in enumerate(evaluated) if method in v.metrics]
            series.append(
                Series(
                    label=method,
                    points=[(i, float(v.metrics[method][metric])) for i, v in rows],
                    tips=[
                        f"v{v.pk} ({v.created_at:%Y-%m-%d %H:%M}) {method}: "
                        f"{name}@{k} {v.metrics[method][metric]:.2f}%"
                        for _, v in rows
                    ],
                    dashed=method != DEFAULT_METHOD,
                )
            )
        svg = line_chart_svg(
            series,
            title=f"{name}@{k} on the holdout, by version",
            x_label="version (oldest to newest)",
            y_label=f"{name}@{k} (%)",
            x_ticks=x_ticks,
            y_format=lambda value: f"{value:g}%",
            empty_text="no evaluated version yet",
            width=560,
        )
        charts.append(mark_safe(svg))  # line_chart_svg escapes every text
    return charts


def loss_chart_svg(version: EmbeddingVersion) -> SafeString:
    """The training loss of each epoch of `version`."""
    points = [(epoch, float(loss)) for epoch, loss in enumerate(version.losses, start=1)]
    # when what is learned on the newest sessions reads the vectors, Word2Vec trains on the older
    # sessions, then on the newest for as many epochs (see prod2vec_train): a line each, since
    # the newest, being new, start higher
    first_pass = int(version.params.get("epochs") or 0)
    passes = [("training loss", points)]
    config = RecommenderConfig.from_dict(version.recommender_config or {})
    if config.vectors_in_two_passes and len(points) == 2 * first_pass:
        passes = [
            ("older sessions", points[:first_pass]),
            ("then the newest", points[first_pass:]),
        ]
    svg = line_chart_svg(
        [
            Series(
                label=label,
                points=part,
                tips=[f"epoch {epoch}: loss {number_short(loss)}" for epoch, loss in part],
            )
            for label, part in passes
        ],
        title=f"Training loss per epoch, v{version.pk}",
        x_label="epoch",
        y_label="loss per view",
        x_ticks=[(epoch, str(epoch)) for epoch, _ in points] or None,
        empty_text="no epoch finished",
    )
    return mark_safe(svg)  # line_chart_svg escapes every text


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
