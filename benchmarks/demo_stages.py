"""What each stage of `make demo`'s first run costs: `demo_setup` on a fresh data folder.

Usage: .venv/bin/python benchmarks/demo_stages.py [--runs 1] [--write]
Runs `manage.py demo_setup` (the default sample shop: 2,000 products, 50,000 sessions) in a new
temporary CIS_DATA_DIR, as a fresh clone would, `--runs` times, and prints the seconds of each
stage (the median over the runs). `--write` saves them to storefront/demo_stage_seconds.json,
which weighs the stages in a first run's estimate of the time left on a machine that has not
measured its own.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings")
django.setup()

from storefront.demo import FRESH_CLONE_TIMINGS, MACHINE_TIMINGS  # noqa: E402

# The demo's defaults, whatever this shell has set.
UNSET = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SEARCH_BACKEND", "DJANGO_ENV"}


def first_run_timings() -> dict[str, float]:
    """The seconds each stage of one `demo_setup` on an empty data folder took."""
    with tempfile.TemporaryDirectory(prefix="demo-stages-") as data_dir:
        env = {k: v for k, v in os.environ.items() if k not in UNSET}
        subprocess.run(
            [sys.executable, "manage.py", "demo_setup"],
            cwd=ROOT,
            env={**env, "CIS_DATA_DIR": data_dir},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return json.loads((Path(data_dir) / MACHINE_TIMINGS).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--write", action="store_true", help=f"save to {FRESH_CLONE_TIMINGS}")
    args = parser.parse_args()

    runs = [first_run_timings() for _ in range(args.runs)]
    stages = list(dict.fromkeys(stage for run in runs for stage in run))
    median = {
        stage: round(statistics.median(run[stage] for run in runs if stage in run), 2)
        for stage in stages
    }
    for stage, seconds in median.items():
        print(f"{stage:28} {seconds:6.2f} s")
    print(f"{'in all':28} {sum(median.values()):6.2f} s")
    if args.write:
        FRESH_CLONE_TIMINGS.write_text(json.dumps(median, indent=1) + "\n")
        print(f"written to {FRESH_CLONE_TIMINGS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
