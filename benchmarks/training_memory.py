"""A training's time and peak memory as the view log grows: the whole log, and a window of days.

Usage: .venv/bin/python benchmarks/training_memory.py [--views 1000000,5000000,10000000]
       [--window-views 1000000] [--days 30] [--epochs 1] [--no-whole]
For each log size (in views), one process loads a generated shop into a fresh SQLite database
(DATABASE_URL: a fresh database on that PostgreSQL server instead): --window-views views of
recent sessions, and the rest older than the window (viewed 90 days ago); then a process per
training trains on it, with the default 10% holdout and its evaluation: once with
CIS_TRAINING_WINDOW=--days (the recent sessions only, the same at every size) and once on the
whole log (--no-whole: not, which at ten million views takes a while). Printed: per size and
training, the sessions and views trained on, the peak resident memory of the training process,
its time and that of each of its phases; then each training's largest size over its smallest.
With the window both should stay near 1 however long the log; on the whole log they grow with
it.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
PRODUCTS = 2_000
VIEWS_PER_SESSION = 6.3  # what the sample shop's simulated sessions average (measured)
OLD_DAYS = 90  # the older part of the log: outside any window of fewer days


def child(step: str, data_dir: Path, options: list[str]) -> None:
    from _shop import django_start

    django_start(data_dir)
    if step == "load":
        recent, older = (int(n) for n in options)
        print(log_load(data_dir, recent_sessions=recent, older_sessions=older))
        return
    from personalization.training import embeddings_train
    from personalization.versions import training_version_create

    days, epochs = (int(n) for n in options)
    started = time.perf_counter()
    version = training_version_create(
        params={"epochs": epochs}, triggered_by="benchmark", window_days=days
    )
    version = embeddings_train(version.pk, activate=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds = time.perf_counter() - started
    sessions = version.sessions + version.holdout_sessions
    phases = ",".join(f"{phase}={spent:.0f}" for phase, spent in version.timings.items())
    print(f"{sessions} {version.events} {peak:.1f} {seconds:.1f} {phases}")


def log_load(data_dir: Path, *, recent_sessions: int, older_sessions: int) -> int:
    """The catalog, then `older_sessions` sessions viewed OLD_DAYS ago and `recent_sessions`
    viewed now; the views logged."""
    from datetime import timedelta

    from django.utils import timezone

    from catalog.importing import catalog_import
    from personalization.events import sessions_import
    from personalization.models import ViewEvent
    from sample_shop import catalog_csv_write, products_generate, sessions_simulate

    catalog = products_generate(PRODUCTS, seed=7)
    catalog_csv_write(data_dir / "catalog.csv", catalog, images=False)
    catalog_import(data_dir / "catalog.csv")
    sessions = sessions_simulate(catalog, older_sessions + recent_sessions, seed=7)
    for source, count in (("older", older_sessions), ("recent", recent_sessions)):
        path = data_dir / f"{source}.txt"
        with path.open("w", encoding="utf-8") as out:
            for _ in range(count):
                session_id, skus = next(sessions)
                out.write(session_id + "\t" + "\t".join(skus) + "\n")
        sessions_import(path, source=source)
        path.unlink()
        if source == "older":
            ViewEvent.objects.filter(source=source).update(
                viewed_at=timezone.now() - timedelta(days=OLD_DAYS)
            )
    return ViewEvent.objects.count()


@contextmanager
def database_fresh(name: str) -> Iterator[dict]:
    """With DATABASE_URL (PostgreSQL), a new database `name` on its server, dropped after; the
    environment that points the children at it. Without: nothing (each size's SQLite file)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        yield {}
        return
    import psycopg

    parts = urlsplit(url)
    server = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"DATABASE_URL": urlunsplit(parts._replace(path=f"/{name}"))}
    finally:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(step: str, data_dir: Path, *options: object, env: dict | None = None) -> str:
    command = [sys.executable, __file__, "--child", step, str(data_dir), *map(str, options)]
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=HERE, env={**os.environ, **(env or {})}
    )
    if result.returncode:
        raise SystemExit(f"{step} failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip().splitlines()[-1]


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], Path(sys.argv[3]), sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", default="1000000,5000000,10000000", help="log sizes")
    parser.add_argument("--window-views", type=int, default=1_000_000, help="of them, recent")
    parser.add_argument("--days", type=int, default=30, help="the window, in days")
    parser.add_argument("--epochs", type=int, default=1, help="Word2Vec's, per training")
    parser.add_argument("--no-whole", action="store_true", help="the window's trainings only")
    args = parser.parse_args()
    sizes = [int(size) for size in args.views.split(",")]
    if min(sizes) < args.window_views:
        parser.error("every log size must hold --window-views views")
    trainings = {f"last {args.days} days": args.days} | ({} if args.no_whole else {"whole log": 0})
    rows: dict[str, list[tuple[int, float, float]]] = {name: [] for name in trainings}
    recent = round(args.window_views / VIEWS_PER_SESSION)
    print(f"{'log views':>12} {'training':<14} {'sessions':>10} {'views':>11} "
          f"{'peak MiB':>9} {'seconds':>8}  phases (s)")  # fmt: skip
    for number, size in enumerate(sizes):
        older = round((size - args.window_views) / VIEWS_PER_SESSION)
        with (
            tempfile.TemporaryDirectory(prefix="cis-bench-") as folder,
            database_fresh(f"cis_bench_{os.getpid()}_{number}") as env,
        ):
            data_dir = Path(folder)
            logged = int(run("load", data_dir, recent, older, env=env))
            for name, days in trainings.items():
                line = run("train", data_dir, days, args.epochs, env=env)
                sessions, views, peak, seconds, phases = line.split(maxsplit=4)
                rows[name].append((int(views), float(peak), float(seconds)))
                print(f"{logged:>12,} {name:<14} {int(sessions):>10,} {int(views):>11,} "
                      f"{float(peak):>9.1f} {float(seconds):>8.1f}  {phases}",
                      flush=True)  # fmt: skip
    print(f"\nthe largest log ({sizes[-1]:,} views) over the smallest ({sizes[0]:,}):")
    for name, measured in rows.items():
        (_, small_peak, small_time), (_, big_peak, big_time) = measured[0], measured[-1]
        print(f"  {name:<14} peak memory x{big_peak / small_peak:.2f}, "
              f"time x{big_time / small_time:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
