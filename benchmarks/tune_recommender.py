"""Tuning of the recommender's defaults on validation splits carved from training sessions.

Usage: .venv/bin/python benchmarks/tune_recommender.py DATA_DIR [DATA_DIR ...]
       [--holdout-share 0.15] [--seeds 2] [--word2vec]
Each DATA_DIR holds a train_sessions.txt, e.g. ../shared/data/rsc15-100k and
../shared/data/nowplaying. The last share of its lines (the most recent sessions) is the
validation split; test_sessions.txt is never read. The recommender learns its blend weights
and its ranking inside the training part, as it does in the shop (Word2Vec is trained on the
sessions before its validation part, then on those: `vectors_training_split`).
Prints HR@20 / MRR@20 (percent) on each set, and their sum over the sets, which is what
chooses a default (within noise, the simpler one):
- the reference methods and each component alone;
- each recommender setting changed one at a time around the defaults (rows marked * are the
  defaults), the components left out one at a time, and equal weights instead of learned ones;
- noise: the defaults with other Word2Vec seeds;
- with --word2vec, the Word2Vec settings from the seed's to the defaults, then one at a time
  around them (the session vector alone and the recommender; slow on large sets).
docs/tuning.md keeps what these tables chose and why.
About 10 minutes on 2 cores for rsc15-100k and nowplaying.
"""

import argparse
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from personalization.engine.comparison import methods_scorers  # noqa: E402
from personalization.engine.config import COMPONENTS, RecommenderConfig  # noqa: E402
from personalization.engine.evaluation import next_item_evaluate  # noqa: E402
from personalization.engine.learning import (  # noqa: E402
    recommender_build,
    vectors_training_split,
)
from personalization.engine.prod2vec import SEED_PARAMS, Prod2VecParams, prod2vec_train  # noqa: E402
from personalization.engine.sessions_file import sessions_file_read  # noqa: E402
from personalization.engine.splits import sessions_holdout_split  # noqa: E402

DEFAULT_PARAMS = Prod2VecParams()
DEFAULT_CONFIG = RecommenderConfig()
EMBEDDING_ONLY = dataclasses.replace(DEFAULT_CONFIG, components=())

# One setting at a time around the defaults.
SETTINGS = {
    "neighbours": [50, 200, 500],
    "half_life": [0.5, 2.0, None],
    "transitions_window": [1, 5],
    "transitions_prior": [3.0, 30.0],
    "cooccurrence_window": [3, 8],
    "cooccurrence_prior": [10.0, 100.0],
    "validation_share": [0.1, 0.25],
    "fallback": [False],
    "learn_weights": [False],
    "blend_session_vector": [True],
    "learn_ranking": [False],
}


@dataclasses.dataclass
class DataSet:
    name: str
    train: list
    valid: list
    trained: dict = dataclasses.field(default_factory=dict)  # Word2Vec runs, by how they split

    def model(self, config: RecommenderConfig, params: Prod2VecParams = DEFAULT_PARAMS):
        """The recommender built as the shop builds it, Word2Vec trained once per split."""
        earlier, later = vectors_training_split(self.train, config)
        key = (params, len(earlier))
        if key not in self.trained:
            self.trained[key] = prod2vec_train(earlier, params, later=later)
        trained = self.trained[key]
        return recommender_build(
            trained.vectors,
            self.train,
            config,
            vectors_before_validation=trained.vectors_before_later,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, nargs="+")
    parser.add_argument("--holdout-share", type=float, default=0.15)
    parser.add_argument("--seeds", type=int, default=2, help="other Word2Vec seeds for noise")
    parser.add_argument("--word2vec", action="store_true")
    args = parser.parse_args()
    sets = []
    for folder in args.data:
        sessions = [line.skus for line in sessions_file_read(folder / "train_sessions.txt")]
        train, valid = sessions_holdout_split(sessions, holdout_share=args.holdout_share)
        data = DataSet(folder.name, train, valid)
        start = time.perf_counter()
        data.model(DEFAULT_CONFIG)
        predictions = sum(len(skus) - 1 for skus in valid)
        print(
            f"{data.name}: {len(train):,} training sessions, {len(valid):,} validation "
            f"({predictions:,} predictions); Word2Vec {time.perf_counter() - start:.1f} s"
        )
        sets.append(data)
    columns = " | ".join(f"{data.name:>15}" for data in sets) + " |   sum"

    def cells(results: list[tuple[float, float]]) -> str:
        parts = [f"{100 * hr:6.2f} {100 * mrr:6.2f}" for hr, mrr in results]
        total = sum(100 * (hr + mrr) for hr, mrr in results)
        return "  | ".join(parts) + f"  | {total:6.2f}"

    def evaluate(config: RecommenderConfig, params: Prod2VecParams = DEFAULT_PARAMS) -> str:
        results = []
        for data in sets:
            model = data.model(config, params)
            metrics = next_item_evaluate(model, data.valid)
            results.append((metrics.hr, metrics.mrr))
        return cells(results)

    table("Reference methods and each component alone (default settings)", columns)
    per_set = []
    for data in sets:
        model = data.model(DEFAULT_CONFIG)
        scorers = methods_scorers(model, data.train)
        per_set.append({name: next_item_evaluate(s, data.valid) for name, s in scorers.items()})
        print(f"  {data.name} learned weights: {model.weights} ({model.learning})", flush=True)
    for name in per_set[0]:
        results = [(metrics[name].hr, metrics[name].mrr) for metrics in per_set]
        row(name == "default", name, cells(results))

    table("The recommender: one setting at a time around the defaults", columns)
    row(True, "defaults", evaluate(DEFAULT_CONFIG))
    for name in COMPONENTS:
        config = dataclasses.replace(
            DEFAULT_CONFIG, components=tuple(c for c in COMPONENTS if c != name)
        )
        row(False, f"without {name}", evaluate(config))
    for name, values in SETTINGS.items():
        for value in values:
            config = dataclasses.replace(DEFAULT_CONFIG, **{name: value})
            row(False, f"{name}={value}", evaluate(config))

    table("Noise: the defaults, Word2Vec trained with other seeds", columns)
    for seed in range(2, 2 + args.seeds):
        params = dataclasses.replace(DEFAULT_PARAMS, seed=seed)
        row(
            False,
            f"seed={seed}",
            evaluate(DEFAULT_CONFIG, params),
        )

    if args.word2vec:
        word2vec_tables(sets, cells)


def word2vec_tables(sets, cells) -> None:
    """Word2Vec settings, from the seed's to the defaults, then one at a time around them:
    the session vector alone, and the recommender."""
    columns = " | ".join(f"{data.name:>15}" for data in sets) + " |   sum"

    def params_row(label: str, params: Prod2VecParams) -> None:
        embedding, default = [], []
        for data in sets:
            for config, results in ((EMBEDDING_ONLY, embedding), (DEFAULT_CONFIG, default)):
                model = data.model(config, params)
                metrics = next_item_evaluate(model, data.valid)
                results.append((metrics.hr, metrics.mrr))
        row(params == DEFAULT_PARAMS, f"{label} (session vector)", cells(embedding))
        row(params == DEFAULT_PARAMS, f"{label} (recommender)", cells(default))

    table("Word2Vec: from the seed's params to the defaults", columns)
    params = SEED_PARAMS
    for label, change in (
        ("seed params", {}),
        ("+ min_count=1", {"min_count": 1}),
        ("+ alpha=0.05", {"alpha": 0.05}),
        ("+ negative=20", {"negative": 20}),
        ("+ window=5", {"window": 5}),
    ):
        params = dataclasses.replace(params, **change)
        params_row(label, params)
    table("Word2Vec: one setting at a time around the defaults", columns)
    grid = {
        "min_count": [2, 5],
        "ns_exponent": [-0.5, 0.0, 1.0],
        "sg": [True],
        "window": [3, 8],
        "epochs": [10, 30, 40],
        "negative": [5, 10],
        "alpha": [0.025],
        "vector_size": [32, 100],
    }
    for name, values in grid.items():
        for value in values:
            params_row(f"{name}={value}", dataclasses.replace(DEFAULT_PARAMS, **{name: value}))


def table(title: str, columns: str) -> None:
    print(f"\n{title}\n  {'':32} {columns}", flush=True)


def row(is_default: bool, label: str, cells: str) -> None:
    print(f"{'*' if is_default else ' '} {label:32} {cells}", flush=True)


if __name__ == "__main__":
    main()
