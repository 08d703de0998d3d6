"""The training pipeline's time against raw gensim Word2Vec on the same sessions and parameters.

Usage: .venv/bin/python benchmarks/training_overhead.py [--sessions 50000] [--rounds 2]
Loads a generated shop into a fresh SQLite database, then alternates, in one process: raw
`Word2Vec(sessions, ...)` on an in-memory list, and the pipeline (reading the view log from the
database into its streamed corpus, then training) with no holdout, so both see the same
sessions. The best of each is compared; the target is at most 1.15x.
"""

import argparse
import time

from _shop import django_start, shop_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    data_dir = django_start()
    sessions_file = shop_load(data_dir, products=args.products, sessions=args.sessions)
    from django.conf import settings
    from gensim.models import Word2Vec

    from personalization.engine.prod2vec import Prod2VecParams
    from personalization.training import embeddings_train
    from personalization.versions import training_version_create

    settings.CIS_HOLDOUT_SHARE = 0.0
    params = Prod2VecParams()
    sessions = [line.rstrip("\n").split("\t")[1:] for line in sessions_file.open()]
    trained_on = [skus for skus in sessions if len(skus) >= 2]  # what prod2vec_train keeps
    events = sum(len(s) for s in trained_on)
    print(f"{len(trained_on)} sessions of 2+ views, {events} events; {params}")

    raw_times, pipeline_times, totals = [], [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        Word2Vec(trained_on, epochs=params.epochs, compute_loss=True, **params.word2vec_kwargs())
        raw_times.append(time.perf_counter() - start)
        version = embeddings_train(training_version_create(triggered_by="benchmark").pk)
        pipeline_times.append(version.timings["reading sessions"] + version.timings["training"])
        totals.append(version.training_seconds)
        print(f"  raw {raw_times[-1]:.2f} s; pipeline {version.timings}")
    raw, pipeline = min(raw_times), min(pipeline_times)
    print(f"raw gensim Word2Vec (list in memory)        {raw:8.2f} s")
    print(f"pipeline: read the log + stream + train     {pipeline:8.2f} s  {pipeline / raw:.3f}x")
    print(f"pipeline, everything (recommender, saving)  {min(totals):8.2f} s  "
          f"{min(totals) / raw:.3f}x")  # fmt: skip


if __name__ == "__main__":
    main()
