"""`manage.py simulate_shoppers --base-url URL --shoppers N --seed S`: simulated shoppers
(storefront/simulation.py) through the shop's HTTP interface. Last, experiment_report's line
over the impressions shown since the run began, read from this database (the shop's when it is
the local demo; other visitors' meanwhile count too)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from personalization.experiment_results import experiment_results, interleaving_line
from storefront.simulation import HttpTransport, RequestFailed, shoppers_simulate
from storefront.simulation_results import impressions_recorded


class Command(BaseCommand):
    help = "Simulated shoppers who view, search and click on a served shop; the interleaving line."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--shoppers", type=int, default=100)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--max-seconds", type=float, default=600.0, help="stop after")
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds a request")
        parser.add_argument("--interface", choices=("html", "api"), default="html")
        parser.add_argument(
            "--min-products", type=int, default=5, help="an intent's least products"
        )

    def handle(self, *args, base_url, shoppers, seed, max_seconds, timeout, **options):
        started = timezone.now()
        with tqdm(total=shoppers, unit="shopper", disable=options["verbosity"] < 1) as bar:
            try:
                run = shoppers_simulate(
                    lambda agent: HttpTransport(base_url, user_agent=agent, timeout=timeout),
                    shoppers=shoppers, seed=seed, max_seconds=max_seconds,
                    interface=options["interface"], min_products=options["min_products"],
                    progress=bar.update,
                )  # fmt: skip
            except RequestFailed as failed:
                raise CommandError(f"{base_url}: {failed}") from None
        self.stdout.write(run.summary())
        recorded = impressions_recorded(run.impressions, clicks=run.clicks)
        if run.impressions and not recorded:
            raise CommandError(
                f"none of the {len(run.impressions)} impressions shown is in this database: run "
                "the command with the shop's own settings (CIS_DATA_DIR or DATABASE_URL), or read "
                "`manage.py experiment_report` where the shop runs"
            )
        self.stdout.write(f"the shop recorded {recorded} of them")
        results = experiment_results(since=started)  # what experiment_report --since reads
        self.stdout.write(interleaving_line(results.interleaving.win_share))
