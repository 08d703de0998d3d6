"""What the learned ranking costs a whole evaluation: time and peak memory, against the blend.

Usage: .venv/bin/python benchmarks/ranking_cost.py DATA_DIR [--seed 1]
e.g. ../shared/data/nowplaying. Runs, each in its own process so that each peak is its own, the
whole comparison `evaluate_recommendations` runs (Word2Vec, the building, every method ranked on
the test file): first as the recommender was before the learned ranking, the baseline (the
linear blend, the session vector's weight learned too: `learn_ranking=False,
blend_session_vector=True`), then with the default config (the learned ranking). Prints each
run's wall time, peak memory and default HR@20 / MRR@20, and the ranking's ratios to the
baseline.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import sys
sys.path.insert(0, {root!r})
from personalization.engine.comparison import recommenders_compare
from personalization.engine.config import RecommenderConfig
from personalization.engine.prod2vec import Prod2VecParams
from personalization.engine.sessions_file import sessions_file_read
train = [line.skus for line in sessions_file_read({train!r})]
test = [line.skus for line in sessions_file_read({test!r})]
metrics = recommenders_compare(
    train, test, params=Prod2VecParams(seed={seed}),
    config=RecommenderConfig(learn_ranking={ranking}, blend_session_vector={not_ranking}),
).metrics()["default"]
print(f"{{100 * metrics.hr:.2f}} {{100 * metrics.mrr:.2f}}")
"""


def run(data: Path, seed: int, ranking: bool) -> tuple[float, float, str]:
    """(wall seconds, peak MiB, "HR MRR") of one whole comparison in a child process."""
    code = CHILD.format(
        root=str(ROOT),
        train=str(data / "train_sessions.txt"),
        test=str(data / "test_sessions.txt"),
        seed=seed,
        ranking=ranking,
        not_ranking=not ranking,
    )
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status:
        raise SystemExit(f"the run with learn_ranking={ranking} failed")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, output.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    results = {}
    for label, ranking in (("blend (baseline)", False), ("learned ranking", True)):
        seconds, peak, figures = run(arguments.data, arguments.seed, ranking)
        results[label] = (seconds, peak)
        print(f"{label:<24} {seconds:6.1f} s  {peak:6.0f} MiB  HR MRR {figures}", flush=True)
    (base_time, base_peak), (time_, peak) = results.values()
    print(f"ranking / baseline: time {time_ / base_time:.2f}x, peak memory {peak / base_peak:.2f}x")


if __name__ == "__main__":
    main()
