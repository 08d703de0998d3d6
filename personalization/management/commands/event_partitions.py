"""`manage.py event_partitions [--ahead N] [--detach-before YYYY-MM]`: the event log's months
(PostgreSQL)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from personalization.partitions import (
    event_partitions,
    event_partitions_ahead,
    event_partitions_detach,
    partitioned,
)


def month_given(text: str) -> date:
    try:
        year, month = (int(part) for part in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise CommandError(f"--detach-before takes a month as YYYY-MM, not {text!r}") from None


class Command(BaseCommand):
    help = (
        "List the event log's monthly partitions (PostgreSQL); with --ahead, create the coming "
        "months' (as beat does daily); with --detach-before, take the months before one out of "
        "the log, each left as a table of its own to archive or drop."
    )

    def add_arguments(self, parser):
        parser.add_argument("--ahead", type=int, help="create this and the next N months")
        parser.add_argument("--detach-before", metavar="YYYY-MM", help="detach the months before")

    def handle(self, *args, ahead: int | None, detach_before: str | None, **options):
        if not partitioned():
            raise CommandError(
                "the event log is partitioned on PostgreSQL only (DATABASE_URL=postgres://...); "
                "this database keeps it in one table"
            )
        if ahead is not None:
            if ahead < 0:
                raise CommandError(f"--ahead takes a number of months >= 0, not {ahead}")
            for name in event_partitions_ahead(ahead):
                self.stdout.write(f"created {name}")
        if detach_before is not None:
            for name in event_partitions_detach(month_given(detach_before)):
                self.stdout.write(f"detached {name} (a table of its own now: archive or drop it)")
        for partition in event_partitions():
            views = f"about {partition.rows:,} view{'' if partition.rows == 1 else 's'}"
            self.stdout.write(f"{partition.start:%Y-%m}  {partition.name}  {views}")
