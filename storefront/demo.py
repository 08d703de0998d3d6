"""Preparing the demo shop: sample data generated once, loaded once, reused afterwards."""

import json
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from catalog.importing import catalog_import
from catalog.models import Product
from catalog.search import IndexCheckOutcome, search_index_check
from common.progress import StageProgress
from personalization.events import sessions_import
from personalization.models import EmbeddingVersion, ViewEvent
from personalization.serving import model_active
from personalization.training import (
    SAMPLE_WORD_PARAMS,
    embeddings_train,
    word_embeddings_train,
    word_sample_corpus,
)
from personalization.versions import training_version_create
from sample_shop import sample_data_generate, sample_synonyms_install

SAMPLE_SOURCE = "sample"
# Seconds each stage of a first run took on a fresh clone (2 cores), written by
# `benchmarks/demo_stages.py --write`: the estimate of the time left weighs stages by them until
# this machine has measured its own (see `stage_costs`).
FRESH_CLONE_TIMINGS = Path(__file__).with_name("demo_stage_seconds.json")
MACHINE_TIMINGS = "demo-stage-seconds.json"  # in CIS_DATA_DIR: this machine's own runs
TRAINING_STAGES = [
    "reading sessions", "training", "building the recommender", "evaluating",
    "drawing the map", "saving",
]  # fmt: skip
_SAMPLE_STAGES = {"images": "drawing product pictures", "sessions": "simulating sessions"}


def _files(sample_dir: Path) -> tuple[Path, Path]:
    return sample_dir / "catalog.csv", sample_dir / "sessions.txt"


def demo_stages(sample_dir: Path) -> list[str]:
    """The stages `demo_prepare` will go through: on a first run all of them, later only the
    index check."""
    catalog_file, sessions_file = _files(sample_dir)
    stages = []
    if not (catalog_file.is_file() and sessions_file.is_file()):
        stages += ["drawing product pictures", "simulating sessions"]
    if not Product.objects.exists():
        stages.append("loading the catalog")
    if not ViewEvent.objects.filter(source=SAMPLE_SOURCE).exists():
        stages.append("loading sessions")
    # an active version whose model cannot be loaded (trained by an older release, files
    # gone) serves nothing: train a new one
    if model_active() is None:
        stages += TRAINING_STAGES
    stages.append("indexing")
    if not EmbeddingVersion.objects.filter(
        kind=EmbeddingVersion.Kind.WORD, is_active=True
    ).exists():
        stages.append("training word vectors")
    return stages


def stage_costs(stages: list[str], *, data_dir: Path) -> dict[str, float]:
    """What each of `stages` costs, in seconds, to weigh it in the estimate of the time left.

    Measured, never guessed: the training stages as the last trained product version recorded
    its phases, the others as this machine's last `demo_setup` took them, else as a fresh
    clone's first run took them (FRESH_CLONE_TIMINGS). A stage measured nowhere weighs what
    the others do on average."""
    measured = _timings_read(FRESH_CLONE_TIMINGS) | _timings_read(data_dir / MACHINE_TIMINGS)
    last_training = (
        EmbeddingVersion.objects.filter(
            kind=EmbeddingVersion.Kind.PRODUCT, status=EmbeddingVersion.Status.SUCCEEDED
        )
        .order_by("-pk")
        .values_list("timings", flat=True)
        .first()
    )
    measured |= {
        stage: float(seconds)
        for stage, seconds in (last_training or {}).items()
        if stage in TRAINING_STAGES and isinstance(seconds, int | float)
    }
    known = [measured[stage] for stage in stages if stage in measured]
    unknown = sum(known) / len(known) if known else 1.0
    return {stage: measured.get(stage, unknown) for stage in stages}


def stage_timings_record(timings: dict[str, float], *, data_dir: Path) -> None:
    """Keep the seconds each stage of a run took, for the next run's estimate (stages this run
    did not go through keep what an earlier run measured)."""
    path = data_dir / MACHINE_TIMINGS
    kept = _timings_read(path) | {stage: round(s, 2) for stage, s in timings.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(kept, indent=1) + "\n")
    partial.replace(path)


def _timings_read(path: Path) -> dict[str, float]:
    """stage -> seconds from a timings file; {} when there is none or it cannot be read."""
    try:
        timings = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(timings, dict):
        return {}
    return {
        str(stage): float(seconds)
        for stage, seconds in timings.items()
        if isinstance(seconds, int | float) and seconds >= 0
    }


def demo_prepare(
    sample_dir: Path,
    *,
    say: Callable[[str], None] = print,
    progress: StageProgress | None = None,
    products: int = 2000,
    sessions: int = 50000,
) -> None:
    """Generate the sample data if it is missing, load what the database lacks, train the
    first embeddings if none serve yet, and index the catalog; each stage reports to
    `progress` (see `demo_stages`). `products` and `sessions` size a sample generated now."""
    catalog_file, sessions_file = _files(sample_dir)
    due = demo_stages(sample_dir)

    def stage(name: str, total: int = 0):
        return progress(name, total) if progress is not None else None

    if "simulating sessions" in due:
        sample_data_generate(
            sample_dir,
            products=products,
            sessions=sessions,
            progress=(lambda name, total: stage(_SAMPLE_STAGES.get(name, name), total))
            if progress is not None
            else None,
        )
        say(f"Generated the sample shop in {sample_dir}.")
    if "loading the catalog" in due:
        report = catalog_import(
            catalog_file, progress=stage("loading the catalog", catalog_file.stat().st_size)
        )
        say(f"Loaded {report.created} products.")
    if "loading sessions" in due:
        report = sessions_import(
            sessions_file,
            source=SAMPLE_SOURCE,
            progress=stage("loading sessions", sessions_file.stat().st_size),
        )
        say(f"Loaded {report.sessions} sample sessions ({report.events} views).")
    if "training" in due:
        version = training_version_create(triggered_by="demo_setup")
        version = embeddings_train(version.pk, progress=progress)
        say(f"Trained product embeddings v{version.pk} in {version.training_seconds:.0f} s.")
    if sample_synonyms_install(settings.CIS_SYNONYMS_FILE):  # before Elasticsearch reads it
        say(f"Installed the sample shop's synonyms in {settings.CIS_SYNONYMS_FILE}.")
    # Only an index behind the catalog (or the model) is rebuilt: a second start is quick, and
    # one that follows a crash between a catalog write and its refresh repairs the index.
    stage("indexing")
    for check in search_index_check():
        if check.report is not None:
            say(f"Indexed {check.report.products} products for {check.backend} search.")
        elif check.outcome == IndexCheckOutcome.UNAVAILABLE:
            say(f"The {check.backend} search index cannot be checked: {check.detail}")
    if "training word vectors" in due:
        stage("training word vectors")
        demo_words_prepare(say=say)


def demo_words_prepare(*, say: Callable[[str], None] = print) -> None:
    """Train the word explorer's model on the small news corpus gensim ships, if no word model
    serves yet: two seconds, and /space/explore/?kind=word works out of the box."""
    if EmbeddingVersion.objects.filter(kind=EmbeddingVersion.Kind.WORD, is_active=True).exists():
        return
    version = training_version_create(
        kind=EmbeddingVersion.Kind.WORD,
        params=SAMPLE_WORD_PARAMS,
        corpus=word_sample_corpus(),
        triggered_by="demo_setup",
    )
    version = word_embeddings_train(version.pk)
    say(
        f"Trained word vectors v{version.pk} on gensim's sample news text in "
        f"{version.training_seconds:.0f} s."
    )
