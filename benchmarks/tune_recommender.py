"""Tuning of the recommender's defaults on a validation split carved from the training sessions.

Usage: .venv/bin/python benchmarks/tune_recommender.py TRAIN_SESSIONS [--holdout-share 0.15]
TRAIN_SESSIONS is e.g. /work/shared/data/rsc15-100k/train_sessions.txt. The last share of its
lines (the most recent sessions, the file being in time order: see the first table) is held
out; test_sessions.txt is never read. Prints HR@20 / MRR@20 (percent) for: the reference
methods, the session vector's recency and dedupe, Word2Vec settings (from the seed's to the
defaults, then one at a time around the defaults), the co-occurrence blend, and seed noise.
Rows marked * are the defaults. Takes about 5 minutes on 2 cores.
"""

import argparse
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from personalization.engine.evaluation import (  # noqa: E402
    ItemKnnBaseline,
    PopularityBaseline,
    next_item_evaluate,
)
from personalization.engine.prod2vec import SEED_PARAMS, Prod2VecParams, prod2vec_train  # noqa: E402
from personalization.engine.recommender import (  # noqa: E402
    RecommenderConfig,
    SessionRecommender,
    sessions_holdout_split,  # noqa: E402
)
from personalization.engine.sessions_file import sessions_file_read  # noqa: E402

DEFAULT_PARAMS = Prod2VecParams()
DEFAULT_CONFIG = RecommenderConfig()
EMBEDDING_ONLY = dataclasses.replace(DEFAULT_CONFIG, cooccurrence_weight=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("--holdout-share", type=float, default=0.15)
    args = parser.parse_args()
    sessions = [line.skus for line in sessions_file_read(args.train)]
    train, valid = sessions_holdout_split(sessions, holdout_share=args.holdout_share)
    predictions = sum(len(skus) - 1 for skus in valid)
    print(f"{len(train)} training sessions, {len(valid)} validation ({predictions} predictions)")
    time_order_show(train, valid)

    def score(scorer) -> str:
        metrics = next_item_evaluate(scorer, valid)
        return f"{100 * metrics.hr:6.2f} {100 * metrics.mrr:6.2f}"

    def trained(params: Prod2VecParams):
        start = time.perf_counter()
        vectors = prod2vec_train(train, params).vectors
        return vectors, time.perf_counter() - start

    def built(vectors, config: RecommenderConfig) -> SessionRecommender:
        return SessionRecommender.build(vectors, train, config)

    table("Reference methods", "HR@20  MRR@20")
    seed_vectors, _ = trained(SEED_PARAMS)
    plain = dataclasses.replace(EMBEDDING_ONLY, half_life=None, dedupe=False)
    row(False, "popularity", score(PopularityBaseline.fit(train)))
    row(False, "item-knn (last item)", score(ItemKnnBaseline.fit(train)))
    row(False, "prod2vec-mean (seed params, plain mean)", score(built(seed_vectors, plain)))

    default_vectors, default_seconds = trained(DEFAULT_PARAMS)
    table("Session vector: half-life (views) x dedupe", "seed params    | default params")
    for half_life in (None, 10, 5, 3, 2, 1.5, 1, 0.5):
        for dedupe in (False, True):
            config = dataclasses.replace(EMBEDDING_ONLY, half_life=half_life, dedupe=dedupe)
            seed, default = built(seed_vectors, config), built(default_vectors, config)
            label = f"half_life={half_life} dedupe={dedupe}"
            row(config == EMBEDDING_ONLY, label, f"{score(seed)} | {score(default)}")

    def params_row(label: str, params: Prod2VecParams, vectors=None, seconds=0.0) -> None:
        if vectors is None:
            vectors, seconds = trained(params)
        embedding, default = built(vectors, EMBEDDING_ONLY), built(vectors, DEFAULT_CONFIG)
        cells = f"{score(embedding)} | {score(default)}  {seconds:5.1f} s  {len(vectors):6}"
        row(params == DEFAULT_PARAMS, label, cells)

    columns = "session vector | default         train   vocab"
    table("Word2Vec: from the seed's params to the defaults", columns)
    params = SEED_PARAMS
    for label, change in (
        ("seed params", {}),
        ("+ min_count=1", {"min_count": 1}),
        ("+ epochs=40", {"epochs": 40}),
        ("+ alpha=0.05", {"alpha": 0.05}),
        ("+ negative=20", {"negative": 20}),
        ("+ window=5", {"window": 5}),
    ):
        params = dataclasses.replace(params, **change)
        params_row(label, params)

    table("Word2Vec: one setting at a time around the defaults", columns)
    params_row("defaults", DEFAULT_PARAMS, default_vectors, default_seconds)
    grid = {
        "min_count": [2, 5, 10],
        "ns_exponent": [-0.5, 0.0, 0.5, 1.0],
        "sg": [True],
        "window": [3, 8],
        "epochs": [20, 60],
        "negative": [5, 10],
        "alpha": [0.025, 0.1],
        "vector_size": [32, 100],
        "sample": [0.0, 1e-2],
    }
    for name, values in grid.items():
        for value in values:
            params_row(f"{name}={value}", dataclasses.replace(DEFAULT_PARAMS, **{name: value}))

    table("Default recommender: co-occurrence blend (default params)", "HR@20  MRR@20")
    for prior in (20, 50, 100):
        for co_half_life in (0.5, 1, 2):
            for weight in (0, 4, 8, 16, 32):
                if weight == 0 and (prior, co_half_life) != (50, 1):
                    continue
                config = dataclasses.replace(
                    DEFAULT_CONFIG,
                    cooccurrence_weight=weight,
                    cooccurrence_half_life=co_half_life,
                    cooccurrence_prior=prior,
                )
                label = f"weight={weight} co_half_life={co_half_life} prior={prior}"
                row(config == DEFAULT_CONFIG, label, score(built(default_vectors, config)))
    for window in (1, 2, 3, 8):
        config = dataclasses.replace(DEFAULT_CONFIG, cooccurrence_window=window)
        row(False, f"cooccurrence_window={window}", score(built(default_vectors, config)))
    for half_life in (0.5, 2, 3, None):
        config = dataclasses.replace(DEFAULT_CONFIG, half_life=half_life)
        row(False, f"session vector half_life={half_life}", score(built(default_vectors, config)))

    table("Noise: the defaults trained with other seeds", "session vector | default")
    for seed in (2, 3):
        vectors, _ = trained(dataclasses.replace(DEFAULT_PARAMS, seed=seed))
        cells = f"{score(built(vectors, EMBEDDING_ONLY))} | {score(built(vectors, DEFAULT_CONFIG))}"
        row(False, f"seed={seed}", cells)


def time_order_show(train: list[list[str]], valid: list[list[str]]) -> None:
    """If the file is in time order, later training sessions share more items with the
    held-out (most recent) sessions than earlier ones do."""
    table("Time order: held-out views whose item is seen in each tenth of training", "share")
    tenth = len(train) / 10
    held_out = [sku for skus in valid for sku in skus]
    for part in range(10):
        chunk = train[round(part * tenth) : round((part + 1) * tenth)]
        seen = {sku for skus in chunk for sku in skus}
        share = sum(sku in seen for sku in held_out) / len(held_out)
        print(f"  tenth {part + 1:2}  {100 * share:5.1f}%")


def table(title: str, columns: str) -> None:
    print(f"\n{title}\n  {'':44} {columns}", flush=True)


def row(is_default: bool, label: str, cells: str) -> None:
    print(f"{'*' if is_default else ' '} {label:44} {cells}", flush=True)


if __name__ == "__main__":
    main()
