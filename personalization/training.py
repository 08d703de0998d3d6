"""Training a queued version: one skeleton for product and word models, two pipelines.

The skeleton starts the version, has the pipeline write the model into a temporary folder,
swaps that folder in as the version's (`os.replace`: a crash leaves no half-written model),
records the results and the time of each phase, and activates the version when it should. A
failure is recorded on the version and re-raised; the active version keeps serving.

The product pipeline reads the view log once (sessions in the order they began) into a compact
corpus, holds out the most recent share, trains prod2vec on the rest, evaluates the result
against baselines on the held-out sessions and draws the map. The version that is evaluated is
the version that serves. The word pipeline trains on a text file and scores on WordSim-353.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from gensim.utils import simple_preprocess

from common.progress import Progress, StageProgress

from .engine.comparison import methods_ranks
from .engine.config import RecommenderConfig
from .engine.learning import recommender_build, vectors_training_split
from .engine.persistence import VECTORS_FILE, recommender_save
from .engine.prod2vec import Prod2VecParams, prod2vec_train
from .engine.projection import (
    EXAGGERATION_ITERATIONS,
    ITERATIONS,
    projection_compute,
    projection_save,
)
from .engine.splits import sessions_holdout_split
from .model_files import version_files_delete, version_files_publish
from .models import EmbeddingVersion
from .selectors import sessions_iterate
from .versions import (
    EpochCallback,
    TrainingError,
    TrainingStopped,
    activation_decide,
    version_activate,
    version_epoch_record,
    version_fail,
    version_heartbeat,
    version_phase,
    version_start,
    version_step_record,
    version_stopped_error,
    version_succeed,
)

MODEL_FOLDER = "model"  # inside the temporary folder, what becomes the version's folder
MAP_STEPS = EXAGGERATION_ITERATIONS + ITERATIONS  # t-SNE's iterations
# A phase's steps are written to its version at most this often: the admin polls every 2 s.
STEP_RECORD_SECONDS = 1.0
# The phases of a training, in the order it goes through them (a stored version's timings keep
# no order: PostgreSQL's jsonb sorts its keys).
PHASES = (
    "reading sessions",
    "training",
    "building the recommender",
    "evaluating",
    "drawing the map",
    "saving",
)


class PhaseClock:
    """Records the phase a training is in on its version, how long each phase took, and
    reports each phase's own progress to `progress` (a StageProgress) when one is given.

    Once `stopped` is set (the heartbeat found the version no longer running), the next phase
    or step raises TrainingStopped."""

    def __init__(
        self,
        version: EmbeddingVersion,
        progress: StageProgress | None = None,
        *,
        stopped: threading.Event | None = None,
    ):
        self.version, self.progress, self.timings = version, progress, {}
        self.stopped = stopped or threading.Event()
        self.current, self.since = None, time.perf_counter()
        self.stage: Progress | None = None

    def phase(self, name: str, *, epochs: int | None = None, steps: int = 0) -> Progress:
        """Enter phase `name`; returns its Progress, which `steps` or `epochs` sizes (`step`
        advances it too)."""
        self.stop()
        self.current = name
        version_phase(self.version, name, epochs=epochs, steps=steps)
        shown = self.progress(name, steps or epochs or 0) if self.progress is not None else None
        # an epoch is recorded on the version with its loss; other steps here
        self.stage = StoppingProgress(self, shown, total=steps or None, recorded=epochs is None)
        return self.stage

    def step(self, n: int = 1) -> None:
        if self.stage is not None:
            self.stage.update(n)

    def stop(self) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.timings[self.current] = round(now - self.since, 3)
        self.current, self.since, self.stage = None, now, None

    @property
    def total(self) -> float:
        return sum(self.timings.values())

    def check(self) -> None:
        if self.stopped.is_set():
            raise version_stopped_error(self.version, "stopping")


class StoppingProgress:
    """A phase's Progress: each step first stops the training if its version stopped running,
    then goes on to the progress shown (if any)."""

    def __init__(
        self,
        clock: PhaseClock,
        shown: Progress | None,
        *,
        total: float | None = None,
        recorded: bool = True,
    ):
        self.clock, self.shown, self.recorded = clock, shown, recorded
        self._total = total
        self.done = 0.0
        self.written_at = time.monotonic()

    @property
    def total(self) -> float | None:
        return self._total

    @total.setter
    def total(self, value: float | None) -> None:
        self._total = value
        if self.shown is not None:
            self.shown.total = value

    def update(self, n: float = 1) -> None:
        self.clock.check()
        self.done += n
        now = time.monotonic()
        finished = self._total is not None and self.done >= self._total
        if self.recorded and (finished or now - self.written_at >= STEP_RECORD_SECONDS):
            self.written_at = now
            version_step_record(self.clock.version, int(self.done), int(self._total or 0))
        if self.shown is not None:
            self.shown.update(n)


# A pipeline trains `version`, writes its model into the folder given (which does not exist
# yet), reports its phases on the clock and its epochs to the callback, and returns the
# results to record on the version (counts, vocabulary, metrics).
Pipeline = Callable[[EmbeddingVersion, Path, PhaseClock, EpochCallback], dict]


def version_train(
    version_id: int,
    pipeline: Pipeline,
    *,
    activate: bool | None = None,
    on_epoch: EpochCallback | None = None,
    worker: str = "",
    progress: StageProgress | None = None,
) -> EmbeddingVersion:
    """Train the queued version `version_id` with `pipeline`, save its model atomically, record
    the results, and activate it when `activation_decide` says so. `worker` names the Celery worker
    that trains it; its heartbeat on the version tells the others that it is alive. `progress`
    hears of each phase (epochs, the map's iterations)."""
    version = version_start(version_id, worker=worker)
    models_dir = Path(settings.CIS_MODELS_DIR)
    name = f"{version.kind}/v{version.pk}"
    clock = PhaseClock(version, progress)

    def epoch_done(epoch: int, epochs: int, loss: float) -> None:
        version_epoch_record(version, on_epoch, epoch, epochs, loss)
        clock.step()

    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        with (
            version_heartbeat(version) as stopped,
            tempfile.TemporaryDirectory(dir=models_dir, prefix=".training-") as work,
        ):
            clock.stopped = stopped
            model = Path(work) / MODEL_FOLDER
            results = pipeline(version, model, clock, epoch_done)
            version_files_publish(model, name)
            clock.stop()
    except Exception as exc:
        version_fail(version, f"{type(exc).__name__}: {exc}")
        raise
    try:
        # One transaction: whoever reads the version sees it succeeded and, if it is to serve,
        # already active, never succeeded and not yet decided.
        with transaction.atomic():
            version_succeed(
                version,
                **results,
                training_seconds=clock.total,
                timings=clock.timings,
                path=name,
            )
            decision = activation_decide(version, activate=activate)
            EmbeddingVersion.objects.filter(pk=version.pk).update(activation=decision)
            if decision["activate"]:
                version_activate(version)
    except TrainingStopped:
        version_files_delete(name)  # cancelled at the end: no version owns them
        raise
    except Exception as exc:  # the activation failed: the version did not succeed either
        version_fail(version, f"{type(exc).__name__}: {exc}")
        raise
    version.refresh_from_db()
    return version


def embeddings_train(
    version_id: int,
    *,
    activate: bool | None = None,
    on_epoch: EpochCallback | None = None,
    worker: str = "",
    progress: StageProgress | None = None,
) -> EmbeddingVersion:
    """Train the queued product version `version_id`, evaluate it, save it, maybe activate it.

    `activate`: None activates when the holdout evaluation is not worse than the active
    version's (or when nothing is active); True activates whenever training succeeds; False
    never.
    """
    return version_train(
        version_id,
        product_pipeline,
        activate=activate,
        on_epoch=on_epoch,
        worker=worker,
        progress=progress,
    )


def word_embeddings_train(
    version_id: int, *, activate: bool | None = None, on_epoch: EpochCallback | None = None
) -> EmbeddingVersion:
    """Train the queued word version `version_id` on its corpus and save its vectors.

    There is no earlier score to beat, so a word version activates unless `activate` is False.
    """
    activate = True if activate is None else activate
    return version_train(version_id, word_pipeline, activate=activate, on_epoch=on_epoch)


@dataclass
class CorpusCounts:
    sessions: int = 0
    events: int = 0
    holdout_sessions: int = 0


def sessions_corpus_read(
    *, holdout_share: float, since: datetime | None = None
) -> tuple[list[list[str]], list[list[str]], CorpusCounts]:
    """(training sessions, held-out sessions, counts) from one pass over the view log (its
    views from `since` on, when given: see sessions_iterate).

    The most recent `holdout_share` of sessions is held out (`sessions_holdout_split`). The log
    is read once, straight into one compact corpus: each distinct SKU string is stored once and
    sessions hold references to it, so memory grows by a pointer per event, and gensim iterates
    a plain list (as fast as it trains). No session is held twice.
    """
    shared: dict[str, str] = {}
    read = sessions_iterate(since=since)
    sessions = [[shared.setdefault(sku, sku) for sku in s.skus] for s in read]
    corpus, holdout = sessions_holdout_split(sessions, holdout_share=holdout_share)
    del sessions
    counts = CorpusCounts(
        sessions=len(corpus),
        events=sum(len(skus) for skus in corpus),
        holdout_sessions=len(holdout),
    )
    return corpus, holdout, counts


def training_window_since(version: EmbeddingVersion) -> datetime | None:
    """Where the version's window of the view log starts (None: the whole log): its
    `window_days` back from when it started training."""
    if not version.window_days:
        return None
    return (version.started_at or timezone.now()) - timedelta(days=version.window_days)


def product_pipeline(
    version: EmbeddingVersion, model: Path, clock: PhaseClock, on_epoch: EpochCallback
) -> dict:
    """prod2vec over the view log, the recommender built on it, its evaluation and its map."""
    params = Prod2VecParams.from_dict(version.params)
    config = RecommenderConfig.from_dict(version.recommender_config)
    clock.phase("reading sessions")
    since = training_window_since(version)
    corpus, holdout, counts = sessions_corpus_read(holdout_share=version.holdout_share, since=since)
    if counts.sessions == 0 and since is not None:
        raise TrainingError(
            f"there are no sessions in the last {version.window_days} days to train on "
            f"(CIS_TRAINING_WINDOW): browse the shop, load sessions (manage.py load_sessions) "
            f"or widen the window"
        )
    if counts.sessions == 0:
        raise TrainingError(
            "there are no sessions to train on: load some (manage.py load_sessions) "
            "or browse the shop first"
        )
    # the older sessions first, then the recent ones the blend is learned on (see the function)
    earlier, later = vectors_training_split(corpus, config)
    clock.phase("training", epochs=params.epochs * (1 if later is None else 2))
    trained = prod2vec_train(earlier, params, later=later, on_epoch=on_epoch)
    del earlier, later
    building = clock.phase("building the recommender")
    recommender = recommender_build(
        trained.vectors,
        corpus,
        config,
        vectors_before_validation=trained.vectors_before_later,
        progress=building,
    )
    evaluating = clock.phase("evaluating")
    metrics = holdout_evaluate(recommender, corpus, holdout, progress=evaluating)
    drawing = clock.phase("drawing the map", steps=MAP_STEPS)
    coordinates = projection_compute(recommender.vectors.vectors, progress=drawing)
    clock.phase("saving")
    recommender_save(recommender, model)
    projection_save(model, coordinates)
    return {
        "sessions": counts.sessions,
        "events": counts.events,
        "holdout_sessions": counts.holdout_sessions,
        "window_since": since,
        "vocabulary": len(trained.vectors),
        "metrics": metrics,
    }


def holdout_evaluate(recommender, corpus, holdout, *, progress: Progress | None = None) -> dict:
    """Next-item metrics of the version and of the baselines on the held-out sessions."""
    if not any(len(skus) > 1 for skus in holdout):
        return {}
    ranks = methods_ranks(recommender, corpus, holdout, k=settings.CIS_EVAL_K, progress=progress)
    metrics = {}
    for name, method_ranks in ranks.items():
        metrics[name] = method_ranks.metrics().as_dict()
        # the next views the session had already viewed, and the new ones
        groups = method_ranks.groups()
        for group in ("repeat", "new"):
            metrics[name][group] = groups[group].as_dict()
    # each component's share of the blend, learned on the most recent training sessions
    for name, weight in recommender.weights.items():
        if name in metrics:
            metrics[name]["weight"] = weight
    return metrics


# Words to explore without a corpus of one's own: the Lee corpus of Australian news that gensim
# ships with its tests. A corpus this small needs more epochs over rarer words than Word2Vec's
# defaults to leave its random start.
SAMPLE_WORD_CORPUS = "lee_background.cor"
SAMPLE_WORD_PARAMS = {"vector_size": 50, "epochs": 40, "min_count": 3}


def word_sample_corpus() -> Path:
    """The sample corpus's path inside the installed gensim."""
    from gensim.test.utils import datapath

    return Path(datapath(SAMPLE_WORD_CORPUS))


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


def word_pipeline(
    version: EmbeddingVersion, model: Path, clock: PhaseClock, on_epoch: EpochCallback
) -> dict:
    """Word2Vec over the version's text corpus, scored on WordSim-353 when its words are known."""
    params = Prod2VecParams.from_dict(version.params)
    corpus = WordCorpus(Path(version.corpus), max_sentences=version.max_sentences)
    if not corpus.path.is_file():
        raise TrainingError(f"{corpus.path}: no such corpus file")
    clock.phase("training", epochs=params.epochs)
    trained = prod2vec_train(corpus, params, on_epoch=on_epoch)
    clock.phase("evaluating")
    metrics = word_similarity_evaluate(trained.vectors)
    clock.phase("saving")
    model.mkdir()
    trained.vectors.save(str(model / VECTORS_FILE))
    return {
        "sessions": corpus.sentences,
        "events": corpus.words,
        "vocabulary": len(trained.vectors),
        "metrics": metrics,
    }


def word_similarity_evaluate(vectors) -> dict:
    """Spearman and Pearson correlation (in percent) with WordSim-353's human judgements; {}
    when the corpus knows none of its words."""
    from gensim.test.utils import datapath

    try:
        pearson, spearman, oov = vectors.evaluate_word_pairs(datapath("wordsim353.tsv"))
    except ValueError:  # gensim's answer when none of the pairs' words has a vector
        return {}
    if math.isnan(spearman.statistic):
        return {}
    return {
        "wordsim353": {
            "spearman": round(100 * spearman.statistic, 2),
            "pearson": round(100 * pearson.statistic, 2),
            "oov": round(oov, 2),
        }
    }
