"""How many impressions interleaving and an A/B test need to tell the personalized order from
the plain one, on the same simulated shoppers: the median over seeds, and their ratio.

Usage: .venv/bin/python benchmarks/experiment_sensitivity.py [--data DIR] [--seeds 10]
           [--shoppers 300] [--jobs 2]
--data: a shop `manage.py demo_setup` prepared (CIS_DATA_DIR=DIR); without it one is prepared
in a temporary folder first (about a minute). Each seed runs on a copy of it, so the folder
stays as it was.

For each seed, `--shoppers` shoppers of storefront/simulation.py (HTML pages, the default
click model) go through the shop in-process (Django's test Client, every middleware and
page, nothing served: a tenth of the time runserver takes), with half of the visitors
interleaved (CIS_INTERLEAVING_SHARE=0.5) and half split A/B (CIS_AB_SHARE=0.5), so both
methods see the same kind of shopper. The shop records impressions and clicks as it does for
a person (straight to the database: no Redis). Then, over each method's impressions in the
order shown:
- interleaving: the win share's 95% Wilson interval excludes 0.5;
- A/B: Welch's test of the difference in mean reciprocal rank of the first click
  (0 without a click) between the arms gives p < 0.05;
and the impressions needed are where the result settles (engine.interleaving.settled_from:
significant from there to the end of the run, not at a first lucky crossing). A seed where a
method never settles is counted as needing more than it had (the median is then a lower
bound, marked ">").

One run of 10 seeds, two at a time: 14 minutes while other work shared the 2 cores (a seed
took 50 s once they were free, so about 5 minutes on an idle machine).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _shop import ROOT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a prepared demo data folder (kept as it is)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--shoppers", type=int, default=300, help="per seed")
    parser.add_argument("--jobs", type=int, default=2, help="seeds run at once")
    parser.add_argument("--one-seed", type=int, help=argparse.SUPPRESS)  # a job's own run
    args = parser.parse_args()
    if args.one_seed is not None:
        print(json.dumps(seed_measure(args.one_seed, shoppers=args.shoppers)))
        return
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cis-sensitivity-") as folder:
        data = args.data
        if data is None:
            data = Path(folder) / "shop"
            print("Preparing the demo shop (manage.py demo_setup, about a minute)...", flush=True)
            subprocess.run(
                [sys.executable, "manage.py", "demo_setup"],
                cwd=ROOT, env={**os.environ, "CIS_DATA_DIR": str(data)}, check=True,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
        with ThreadPoolExecutor(args.jobs) as pool:
            rows = list(
                pool.map(lambda seed: seed_run(seed, data, Path(folder), args), range(args.seeds))
            )
    report(rows, seconds=time.monotonic() - started)


def seed_run(seed: int, data: Path, folder: Path, args: argparse.Namespace) -> dict:
    """One seed in a process of its own, on its own copy of the shop."""
    copy = folder / f"seed-{seed}"
    shutil.copytree(data, copy, ignore=shutil.ignore_patterns("media", "broker", "*.log"))
    env = {
        **os.environ,
        "CIS_DATA_DIR": str(copy),
        "CIS_INTERLEAVING_SHARE": "0.5",
        "CIS_AB_SHARE": "0.5",
        "CIS_EXPERIMENT_NAME": f"sensitivity-{seed}",
        "CIS_VIEWS_PER_MINUTE_ADDRESS": "0",  # every shopper comes from the one test address
        "DEBUG": "false",
        "ALLOWED_HOSTS": "testserver",
    }
    env.pop("REDIS_URL", None)
    command = [sys.executable, __file__, "--one-seed", str(seed), "--shoppers", str(args.shoppers)]
    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    shutil.rmtree(copy, ignore_errors=True)
    if finished.returncode:
        raise SystemExit(f"seed {seed} failed:\n{finished.stderr[-3000:]}")
    row = json.loads(finished.stdout.strip().splitlines()[-1])
    print(
        f"seed {seed}: interleaving {needed(row['interleaving'])} of {row['interleaved']}, "
        f"A/B {needed(row['ab'])} of {row['ab_impressions']} impressions "
        f"({row['seconds']:.0f} s)",
        flush=True,
    )
    return row


def seed_measure(seed: int, *, shoppers: int) -> dict:
    """Run the shoppers of `seed` in this process's Django; the impressions each method needed."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings")
    import django

    django.setup()
    from storefront.simulation import shoppers_simulate

    started = time.monotonic()
    run = shoppers_simulate(ClientTransport, shoppers=shoppers, seed=seed, max_seconds=3600)
    interleaving, interleaved = interleaving_needs(run.impressions)
    ab, ab_impressions = ab_needs(run.impressions)
    return {
        "seed": seed,
        "interleaving": interleaving,
        "interleaved": interleaved,
        "ab": ab,
        "ab_impressions": ab_impressions,
        "clicks": run.clicks,
        "failures": sum(run.failures.values()),
        "seconds": time.monotonic() - started,
    }


class ClientTransport:
    """A shopper's browser as Django's test Client: its cookies, CSRF checked as served."""

    def __init__(self, user_agent: str):
        from django.test import Client

        self.client = Client(enforce_csrf_checks=True, HTTP_USER_AGENT=user_agent)

    def request(self, method: str, path: str, *, body=None, headers=None):
        from storefront.simulation import Response

        if body is None:
            answer = self.client.generic(method, path, headers=headers)
        else:
            answer = self.client.generic(
                method, path, json.dumps(body), "application/json", headers=headers
            )
        return Response(answer.status_code, answer.content)

    def cookie(self, name: str) -> str | None:
        morsel = self.client.cookies.get(name)
        return morsel.value if morsel else None


def _impressions(ids, arms):
    """(impression id, arm, teams) of the run's impressions in `arms`, in the order shown."""
    from personalization.models import SearchImpression

    rows = SearchImpression.objects.filter(arm__in=arms).order_by("shown_at", "id")
    return [row for row in rows.values_list("impression_id", "arm", "teams") if row[0] in ids]


def _clicks(ids) -> dict[str, list[int]]:
    from personalization.models import ResultClick

    clicked: dict[str, list[int]] = {}
    for impression, position in ResultClick.objects.values_list("impression_id", "position"):
        if impression in ids:
            clicked.setdefault(impression, []).append(position)
    return clicked


def interleaving_needs(ids) -> tuple[int | None, int]:
    """Interleaved impressions until the win share's interval excludes 0.5 for good, and how
    many there were (those whose two orders agreed on the page count too: they were shown)."""
    import numpy as np

    from personalization.engine.interleaving import LOSS, WIN, credit, settled_from
    from personalization.engine.interleaving import win_share_running as running
    from personalization.models import SearchImpression

    rows = _impressions(ids, [SearchImpression.Arm.INTERLEAVED])
    clicked = _clicks(ids)
    outcomes = [credit(teams, clicked.get(key, ())) if teams else None for key, _, teams in rows]
    wins = np.cumsum([outcome == WIN for outcome in outcomes])
    losses = np.cumsum([outcome == LOSS for outcome in outcomes])
    _, low, high, _ = running(wins, losses)
    return settled_from((low > 0.5) | (high < 0.5)), len(rows)


def ab_needs(ids) -> tuple[int | None, int]:
    """A/B impressions (both arms) until Welch's test of the reciprocal rank of the first click
    gives p < 0.05 for good, and how many there were."""
    import numpy as np

    from personalization.engine.interleaving import arms_difference_running, settled_from
    from personalization.models import SearchImpression

    arm = SearchImpression.Arm
    rows = _impressions(ids, [arm.AB_PERSONALIZED, arm.AB_PLAIN])
    clicked = _clicks(ids)
    ranks = np.array([1 / (min(clicked[key]) + 1) if key in clicked else 0.0 for key, *_ in rows])
    treated = np.array([row[1] == arm.AB_PERSONALIZED for row in rows], dtype=bool)
    _, _, _, p_value = arms_difference_running(
        np.where(treated, ranks, np.nan), np.where(treated, np.nan, ranks)
    )
    return settled_from(p_value < 0.05), len(rows)


def needed(count: int | None) -> str:
    return "not settled" if count is None else str(count)


def median_of(counts: list[int | None], totals: list[int]) -> tuple[float, bool]:
    """The median, a seed that never settled counting as one more than it had; and whether
    such a seed decided the median (then it is only a lower bound)."""
    values = [
        count if count is not None else total + 1
        for count, total in zip(counts, totals, strict=True)
    ]
    middle = statistics.median(values)
    unsettled = [total + 1 for count, total in zip(counts, totals, strict=True) if count is None]
    return middle, any(value <= middle for value in unsettled)


def report(rows: list[dict], *, seconds: float) -> None:
    interleaving, lower_i = median_of(
        [row["interleaving"] for row in rows], [row["interleaved"] for row in rows]
    )
    ab, lower_ab = median_of([row["ab"] for row in rows], [row["ab_impressions"] for row in rows])
    failures = sum(row["failures"] for row in rows)
    print(
        f"{len(rows)} seeds in {seconds:.0f} s ({failures} failed requests). Impressions to "
        f"significance (median): interleaving {'>' * lower_i}{interleaving:g}, "
        f"A/B {'>' * lower_ab}{ab:g}; A/B needs {ab / interleaving:.1f}x as many"
        + (" (at least)" if lower_ab and not lower_i else "")
    )


if __name__ == "__main__":
    main()
