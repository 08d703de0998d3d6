"""Peak memory of the training pipeline as the view log grows tenfold.

Usage: .venv/bin/python benchmarks/training_memory.py [--sessions 20000] [--factor 10]
For each log size, one process loads a generated shop into a fresh SQLite database and a second
process trains on it (with the default 10% holdout and its evaluation); the peak resident memory
of the training process is compared. Streaming means it should grow far less than the log.
"""

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(step: str, data_dir: Path, sessions: int) -> None:
    from _shop import django_start, shop_load

    django_start(data_dir)
    if step == "load":
        shop_load(data_dir, products=2_000, sessions=sessions)
        return
    from personalization.training import embeddings_train
    from personalization.versions import training_version_create

    version = embeddings_train(training_version_create(triggered_by="benchmark").pk)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{version.sessions + version.holdout_sessions} {version.events} {peak:.1f} "
          f"{version.training_seconds:.1f}")  # fmt: skip


def run(step: str, data_dir: Path, sessions: int) -> str:
    command = [sys.executable, __file__, "--child", step, str(data_dir), str(sessions)]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=HERE)
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--factor", type=int, default=10)
    args = parser.parse_args()
    rows = []
    for sessions in (args.sessions, args.sessions * args.factor):
        data_dir = Path(tempfile.mkdtemp(prefix="cis-bench-"))
        run("load", data_dir, sessions)
        total, events, peak, seconds = run("train", data_dir, sessions).split()
        rows.append((int(total), int(events), float(peak), float(seconds)))
        print(f"{total:>8} sessions {events:>9} training events: peak {peak} MiB, {seconds} s")
    (_, small_events, small_peak, _), (_, big_events, big_peak, _) = rows
    print(f"events x{big_events / small_events:.1f} -> peak memory x{big_peak / small_peak:.2f}")


if __name__ == "__main__":
    main()
