"""What each step `recommender_build` reports costs: how the admin's time left for "building the
recommender" is weighed (GATHER_BATCH_STEPS in personalization/engine/learning.py).

Usage: .venv/bin/python benchmarks/recommender_build_steps.py
Reads the view log of the configured database (the demo's after `make demo`), trains Word2Vec
for 5 epochs with the latest product version's settings, builds the recommender, and prints
the mean seconds of a batch of validation predictions gathered and of a blend weight tried.
"""

import os
import sys
import time
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings")
django.setup()

from personalization.engine.config import RecommenderConfig  # noqa: E402
from personalization.engine.learning import (  # noqa: E402
    GATHER_BATCH_STEPS,
    recommender_build,
    vectors_training_split,
)
from personalization.engine.prod2vec import Prod2VecParams, prod2vec_train  # noqa: E402
from personalization.models import EmbeddingVersion  # noqa: E402
from personalization.training import sessions_corpus_read  # noqa: E402


class StepTimes:
    """A Progress that notes when each step ends and how many units it counted."""

    total = None

    def __init__(self):
        self.started, self.marks = time.perf_counter(), []

    def update(self, n: float = 1) -> None:
        self.marks.append((time.perf_counter(), n))


def main() -> None:
    version = EmbeddingVersion.objects.filter(kind="product").order_by("-pk").first()
    config = RecommenderConfig.from_dict(version.recommender_config if version else {})
    params = Prod2VecParams.from_dict({**(version.params if version else {}), "epochs": 5})
    corpus, _, counts = sessions_corpus_read(
        holdout_share=version.holdout_share if version else 0.1
    )
    earlier, later = vectors_training_split(corpus, config)
    trained = prod2vec_train(earlier, params, later=later)
    steps = StepTimes()
    recommender_build(
        trained.vectors,
        corpus,
        config,
        vectors_before_validation=trained.vectors_before_later,
        progress=steps,
    )
    seconds, previous = {"gather": [], "other": []}, steps.started
    for moment, n in steps.marks:
        seconds["gather" if n == GATHER_BATCH_STEPS else "other"].append(moment - previous)
        previous = moment
    print(f"{counts.sessions:,} training sessions; build {previous - steps.started:.1f} s")
    for name, values in seconds.items():
        mean = sum(values) / len(values) if values else 0
        print(f"{name}: {len(values)} steps, {mean:.3f} s each")


if __name__ == "__main__":
    main()
