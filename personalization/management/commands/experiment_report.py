"""`manage.py experiment_report [--since WHEN]`: the experiments' results as a short table."""

from django.core.management.base import BaseCommand, CommandError

from personalization.experiment_results import (
    experiment_report_lines,
    experiment_results,
    since_parse,
)


class Command(BaseCommand):
    help = (
        "Print the interleaving and A/B experiments' results and the top queries; the last "
        "line is interleaving's wins, losses, ties and win share with its 95% interval."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            help="count only impressions shown from then on: an ISO date or date and time",
        )

    def handle(self, *args, since: str | None, **options):
        try:
            moment = since_parse(since) if since else None
        except ValueError as exc:
            raise CommandError(f"--since: {exc}") from exc
        for line in experiment_report_lines(experiment_results(since=moment)):
            self.stdout.write(line)
