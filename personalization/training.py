"""Training embeddings as versioned models: the single-run lock, the pipeline, activation.

The pipeline reads the view log once (sessions in the order they began) into a compact corpus,
holds out the most recent share, trains prod2vec on the rest, evaluates the result
against baselines on the held-out sessions, saves the files and records everything on an
`EmbeddingVersion`. The version that is evaluated is the version that serves.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from gensim.utils import simple_preprocess
from kombu.exceptions import OperationalError

from .engine.prod2vec import Prod2VecParams, prod2vec_train
from .engine.projection import projection_compute, projection_save
from .engine.recommender import RecommenderConfig, SessionRecommender
from .models import EmbeddingVersion
from .selectors import sessions_iterate
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


def training_version_create(
    *,
    kind: str = EmbeddingVersion.Kind.PRODUCT,
    params: dict | None = None,
    triggered_by: str = "",
    corpus: Path | None = None,
    max_sentences: int | None = None,
) -> EmbeddingVersion:
    """A new queued version, or TrainingInProgress while one of its kind is queued or running.

    Product versions train on the view log; word versions on the text file `corpus`.
    """
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


def training_enqueue(*, params: dict | None = None, triggered_by: str = "") -> EmbeddingVersion:
    """Create a version and hand it to a Celery worker (run at once when Celery is eager)."""
    from .tasks import train_embeddings

    version = training_version_create(params=params, triggered_by=triggered_by)
    try:
        result = train_embeddings.apply_async(args=[version.pk], retry=False)
    except (OperationalError, OSError) as exc:
        message = f"the task broker is unreachable ({type(exc).__name__}: {exc})"
        _version_fail(version, message)
        raise BrokerUnavailable(message) from exc
    EmbeddingVersion.objects.filter(pk=version.pk, task_id="").update(task_id=result.id or "")
    version.refresh_from_db()
    return version


def trainings_stale_fail() -> int:
    """Mark queued or running versions that stopped reporting as failed; returns how many.

    A worker killed mid-training cannot record its own failure; without this its version would
    hold the single-run lock forever. Silence longer than the task's hard time limit is death.
    """
    limit = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    stale = EmbeddingVersion.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).filter(
        heartbeat_at__lt=limit
    ) | EmbeddingVersion.objects.filter(
        status__in=[Status.QUEUED, Status.RUNNING], heartbeat_at__isnull=True, created_at__lt=limit
    )
    return stale.update(
        status=Status.FAILED,
        phase="",
        finished_at=timezone.now(),
        error="interrupted: no progress reported within the task's time limit",
    )


@dataclass
class CorpusCounts:
    sessions: int = 0
    events: int = 0
    holdout_sessions: int = 0


def sessions_corpus_read(
    *, holdout_share: float
) -> tuple[list[list[str]], list[list[str]], CorpusCounts]:
    """(training sessions, held-out sessions, counts) from one pass over the view log.

    The most recent `holdout_share` of sessions is held out. The log is read once, straight
    into one compact corpus: each distinct SKU string is stored once and sessions hold
    references to it, so memory grows by a pointer per event, and gensim iterates a plain list
    (as fast as it trains). Nothing is held twice.
    """
    shared: dict[str, str] = {}
    sessions = [[shared.setdefault(sku, sku) for sku in s.skus] for s in sessions_iterate()]
    cut = len(sessions) - (math.floor(len(sessions) * holdout_share) if holdout_share > 0 else 0)
    holdout = sessions[cut:]
    del sessions[cut:]
    corpus = sessions
    counts = CorpusCounts(
        sessions=len(corpus),
        events=sum(len(skus) for skus in corpus),
        holdout_sessions=len(holdout),
    )
    return corpus, holdout, counts


def embeddings_train(
    version_id: int, *, activate: bool | None = None, on_epoch: EpochCallback | None = None
) -> EmbeddingVersion:
    """Train the queued product version `version_id`, evaluate it, save it, maybe activate it.

    `activate`: None activates when the holdout evaluation is not worse than the active
    version's (or when nothing is active); True activates whenever training succeeds; False
    never. A failure is recorded on the version and re-raised; the active version keeps serving.
    """
    version = _version_start(version_id)
    models_dir = Path(settings.CIS_MODELS_DIR)
    models_dir.mkdir(parents=True, exist_ok=True)
    destination = models_dir / version.kind / f"v{version.pk}"
    try:
        params = Prod2VecParams.from_dict(version.params)
        config = RecommenderConfig.from_dict(version.recommender_config)
        with tempfile.TemporaryDirectory(dir=models_dir, prefix=".training-") as work:
            clock = _PhaseClock(version)
            clock.phase("reading sessions")
            corpus, holdout, counts = sessions_corpus_read(holdout_share=version.holdout_share)
            if counts.sessions == 0:
                raise TrainingError(
                    "there are no sessions to train on: load some (manage.py load_sessions) "
                    "or browse the shop first"
                )
            clock.phase("training", epochs=params.epochs)
            trained = prod2vec_train(
                corpus, params, on_epoch=lambda *a: _epoch_record(version, on_epoch, *a)
            )
            clock.phase("building the recommender")
            recommender = SessionRecommender.build(trained.vectors, corpus, config)
            clock.phase("evaluating")
            metrics = holdout_evaluate(recommender, corpus, holdout)
            clock.phase("drawing the map")
            coordinates = projection_compute(recommender.vectors.vectors)
            clock.phase("saving")
            recommender.save(Path(work) / "model")
            projection_save(Path(work) / "model", coordinates)
            shutil.rmtree(destination, ignore_errors=True)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(Path(work) / "model", destination)
            clock.stop()
    except Exception as exc:
        _version_fail(version, f"{type(exc).__name__}: {exc}")
        raise
    _version_succeed(
        version,
        sessions=counts.sessions,
        events=counts.events,
        holdout_sessions=counts.holdout_sessions,
        vocabulary=len(trained.vectors),
        training_seconds=clock.total,
        timings=clock.timings,
        metrics=metrics,
        path=str(destination.relative_to(models_dir)),
    )
    if activation_due(version, activate=activate):
        version_activate(version)
        version.refresh_from_db()
    return version


# Word2Vec's own defaults, which suit words (the seed trained on news text).
WORD_PARAMS = Prod2VecParams(
    vector_size=100, window=5, epochs=5, min_count=5, sg=False, negative=5, ns_exponent=0.75
)


class WordCorpus:
    """The sentences of a plain-text file, one a line, lower-cased, punctuation stripped.

    `max_sentences` caps how many are used, as the seed did with the 1-billion-word corpus.
    Counts the sentences and words of the last complete pass.
    """

    def __init__(self, path: Path, *, max_sentences: int | None = None):
        self.path, self.max_sentences = Path(path), max_sentences
        self.sentences = self.words = 0

    def __iter__(self) -> Iterator[list[str]]:
        sentences = words = 0
        with self.path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if self.max_sentences is not None and sentences >= self.max_sentences:
                    break
                tokens = simple_preprocess(line, min_len=2, max_len=40)
                if tokens:
                    sentences += 1
                    words += len(tokens)
                    yield tokens
        self.sentences, self.words = sentences, words


def word_embeddings_train(
    version_id: int, *, activate: bool | None = None, on_epoch: EpochCallback | None = None
) -> EmbeddingVersion:
    """Train the queued word version `version_id` on its corpus and save its vectors.

    Word versions are scored on WordSim-353 (shipped with gensim) when its words are known;
    there is no earlier score to beat, so they activate unless `activate` is False.
    """
    version = _version_start(version_id)
    models_dir = Path(settings.CIS_MODELS_DIR)
    destination = models_dir / version.kind / f"v{version.pk}"
    try:
        params = Prod2VecParams.from_dict(version.params)
        corpus = WordCorpus(Path(version.corpus), max_sentences=version.max_sentences)
        if not corpus.path.is_file():
            raise TrainingError(f"{corpus.path}: no such corpus file")
        started = time.perf_counter()
        _version_phase(version, "training", epochs=params.epochs)
        trained = prod2vec_train(
            corpus, params, on_epoch=lambda *a: _epoch_record(version, on_epoch, *a)
        )
        seconds = time.perf_counter() - started
        _version_phase(version, "evaluating")
        metrics = word_similarity_evaluate(trained.vectors)
        _version_phase(version, "saving")
        destination.mkdir(parents=True, exist_ok=True)
        trained.vectors.save(str(destination / "vectors.kv"))
    except Exception as exc:
        _version_fail(version, f"{type(exc).__name__}: {exc}")
        raise
    _version_succeed(
        version,
        sessions=corpus.sentences,
        events=corpus.words,
        vocabulary=len(trained.vectors),
        training_seconds=seconds,
        metrics=metrics,
        path=str(destination.relative_to(models_dir)),
    )
    if activation_due(version, activate=True if activate is None else activate):
        version_activate(version)
        version.refresh_from_db()
    return version


def word_similarity_evaluate(vectors) -> dict:
    """Spearman and Pearson correlation (in percent) with WordSim-353's human judgements."""
    from gensim.test.utils import datapath

    pearson, spearman, oov = vectors.evaluate_word_pairs(datapath("wordsim353.tsv"))
    if math.isnan(spearman.statistic):
        return {}
    return {
        "wordsim353": {
            "spearman": round(100 * spearman.statistic, 2),
            "pearson": round(100 * pearson.statistic, 2),
            "oov": round(oov, 2),
        }
    }


def holdout_evaluate(recommender, corpus, holdout) -> dict:
    """Next-item metrics of the version and of the baselines on the held-out sessions."""
    from .engine.evaluation import methods_evaluate

    if not any(len(skus) > 1 for skus in holdout):
        return {}
    results = methods_evaluate(recommender, corpus, holdout, k=settings.CIS_EVAL_K)
    return {name: metrics.as_dict() for name, metrics in results.items()}


def activation_due(version: EmbeddingVersion, *, activate: bool | None = None) -> bool:
    """Whether a succeeded version should replace the active one."""
    if version.status != Status.SUCCEEDED or activate is False:
        return False
    active = EmbeddingVersion.objects.filter(kind=version.kind, is_active=True).first()
    if active is None or activate is True:
        return True
    new, old = version.headline, active.headline
    if old is None:
        return True
    if new is None:
        return False
    return new["mrr"] >= old["mrr"] - settings.CIS_ACTIVATION_TOLERANCE


def version_activate(version: EmbeddingVersion) -> None:
    """Make `version` the one that serves its kind (also a rollback to an older version)."""
    if version.status != Status.SUCCEEDED:
        raise TrainingError(f"v{version.pk} is {version.status}; only a succeeded one can serve")
    if not (Path(settings.CIS_MODELS_DIR) / version.path).is_dir():
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


def version_delete(version: EmbeddingVersion) -> None:
    """Delete a version that neither serves nor trains, with its files."""
    if version.is_active or version.status in (Status.QUEUED, Status.RUNNING):
        raise TrainingError(f"v{version.pk} is active or training; it cannot be deleted")
    if version.path:
        shutil.rmtree(Path(settings.CIS_MODELS_DIR) / version.path, ignore_errors=True)
    version.delete()


class _PhaseClock:
    """Records the phase a training is in on its version, and how long each phase took."""

    def __init__(self, version: EmbeddingVersion):
        self.version, self.timings = version, {}
        self.current, self.since = None, time.perf_counter()

    def phase(self, name: str, *, epochs: int | None = None) -> None:
        self.stop()
        self.current = name
        _version_phase(self.version, name, epochs=epochs)

    def stop(self) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.timings[self.current] = round(now - self.since, 3)
        self.current, self.since = None, now

    @property
    def total(self) -> float:
        return sum(self.timings.values())


def _version_start(version_id: int) -> EmbeddingVersion:
    now = timezone.now()
    started = EmbeddingVersion.objects.filter(pk=version_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now
    )
    version = EmbeddingVersion.objects.get(pk=version_id)
    if not started:
        raise TrainingError(f"v{version_id} is {version.status}, not queued; not training it again")
    return version


def _version_phase(version: EmbeddingVersion, phase: str, *, epochs: int | None = None) -> None:
    fields = {"phase": phase, "heartbeat_at": timezone.now()}
    if epochs is not None:
        fields["epochs"] = epochs
    EmbeddingVersion.objects.filter(pk=version.pk).update(**fields)


def _epoch_record(version, on_epoch: EpochCallback | None, epoch: int, epochs: int, loss: float):
    version.losses = [*version.losses, loss]
    EmbeddingVersion.objects.filter(pk=version.pk).update(
        epoch=epoch, epochs=epochs, losses=version.losses, heartbeat_at=timezone.now()
    )
    if on_epoch is not None:
        on_epoch(epoch, epochs, loss)


def _version_succeed(version: EmbeddingVersion, **results) -> None:
    now = timezone.now()
    EmbeddingVersion.objects.filter(pk=version.pk).update(
        status=Status.SUCCEEDED, phase="", finished_at=now, heartbeat_at=now, **results
    )
    version.refresh_from_db()


def _version_fail(version: EmbeddingVersion, error: str) -> None:
    logger.error("training v%s failed: %s", version.pk, error)
    EmbeddingVersion.objects.filter(pk=version.pk).update(
        status=Status.FAILED, phase="", finished_at=timezone.now(), error=error[:4000]
    )
