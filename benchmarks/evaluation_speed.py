"""Speed of next_item_evaluate, and of the live recommender, against baselines.

Usage: .venv/bin/python benchmarks/evaluation_speed.py TRAIN_SESSIONS TEST_SESSIONS
e.g. /work/shared/data/rsc15-100k/{train,test}_sessions.txt. Trains the default prod2vec once,
then times, in the same run: next_item_evaluate of the default recommender (batched and
vectorised) against the obvious loop (one scores() call and one full sort per prediction)
and against next_item_evaluate of the popularity scorer (the floor: no per-prefix work).
Then times session_vector / recommend with 50 viewed SKUs on a synthetic 50,000-item model.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from gensim.models import KeyedVectors

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from personalization.engine.baselines import PopularityBaseline  # noqa: E402
from personalization.engine.config import RecommenderConfig  # noqa: E402
from personalization.engine.evaluation import Metrics, next_item_evaluate  # noqa: E402
from personalization.engine.learning import recommender_build  # noqa: E402
from personalization.engine.model import SessionRecommender  # noqa: E402
from personalization.engine.predictions import predictions_enumerate  # noqa: E402
from personalization.engine.prod2vec import Prod2VecParams, prod2vec_train  # noqa: E402
from personalization.engine.sessions_file import sessions_file_read  # noqa: E402


def timed(action, repeat: int = 3):
    """(best seconds of `repeat` runs, the last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def loop_evaluate(recommender: SessionRecommender, sessions, *, k: int = 20) -> Metrics:
    """The obvious implementation: score each prefix alone, sort all items, find the item."""
    hits, reciprocal, predictions = 0, 0.0, 0
    for prefix, sku, _ in predictions_enumerate(sessions):
        predictions += 1
        target = recommender.index.get(sku)
        if target is None:
            continue
        scores = recommender.scores(prefix)
        if not np.isfinite(scores[target]):
            continue
        # stable sort on -score puts ties in item order: rank only differs on ties
        order = np.argsort(-scores, kind="stable")
        rank = 1 + int(np.flatnonzero(order == target)[0])
        if rank <= k:
            hits += 1
            reciprocal += 1 / rank
    return Metrics(hr=hits / predictions, mrr=reciprocal / predictions, predictions=predictions)


def live_calls_time(*, items: int = 50_000, dims: int = 50, viewed: int = 50) -> None:
    rng = np.random.default_rng(1)
    vectors = KeyedVectors(vector_size=dims)
    keys = [f"SKU-{i}" for i in range(items)]
    vectors.add_vectors(keys, rng.standard_normal((items, dims)).astype(np.float32))
    # co-occurrence from 200,000 synthetic sessions of 2-10 views, popular items more often
    popularity = 1 / np.arange(1, items + 1) ** 0.8
    sizes = rng.integers(2, 11, size=200_000)
    views = rng.choice(items, size=int(sizes.sum()), p=popularity / popularity.sum())
    sessions = [[keys[i] for i in chunk] for chunk in np.split(views, np.cumsum(sizes)[:-1])]
    build_seconds, recommender = timed(
        lambda: recommender_build(vectors, sessions, RecommenderConfig()), repeat=1
    )
    print(f"\nLive calls: {items:,} items, {dims} dims, {viewed} viewed SKUs "
          f"(model built in {build_seconds:.1f} s; median of 1,000 calls)")  # fmt: skip
    visits = [list(rng.choice(keys, size=viewed)) for _ in range(1000)]
    for name, call in (
        ("session_vector", recommender.session_vector),
        ("scores", recommender.scores),
        ("recommend k=20", lambda skus: recommender.recommend(skus, k=20, exclude=skus[-1:])),
    ):
        seconds = []
        for skus in visits:
            start = time.perf_counter()
            call(skus)
            seconds.append(time.perf_counter() - start)
        print(f"  {name:16} {1000 * statistics.median(seconds):7.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("test", type=Path)
    args = parser.parse_args()
    train = [line.skus for line in sessions_file_read(args.train)]
    test = [line.skus for line in sessions_file_read(args.test)]
    vectors = prod2vec_train(train, Prod2VecParams()).vectors
    recommender = recommender_build(vectors, train, RecommenderConfig())
    popularity = PopularityBaseline.fit(train)
    predictions = sum(len(skus) - 1 for skus in test)
    print(f"{predictions} predictions over {len(recommender.items)} items; best of 3 runs")

    fast, metrics = timed(lambda: next_item_evaluate(recommender, test))
    floor, _ = timed(lambda: next_item_evaluate(popularity, test))
    slow, loop_metrics = timed(lambda: loop_evaluate(recommender, test), repeat=1)
    print(f"  {'next_item_evaluate, default':36} {fast:7.3f} s   {metrics.line('')}")
    print(f"  {'one prediction at a time + sort':36} {slow:7.3f} s   {loop_metrics.line('')}")
    print(f"  {'next_item_evaluate, popularity':36} {floor:7.3f} s")
    print(f"  speed-up over the loop: {slow / fast:.1f}x; "
          f"cost over the popularity floor: {fast / floor:.1f}x")  # fmt: skip
    live_calls_time()


if __name__ == "__main__":
    main()
