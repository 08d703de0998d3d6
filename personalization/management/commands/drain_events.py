"""`manage.py drain_events [--follow]`: move the stream of live views into the event log."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from common.redis_cluster import REDIS_FAILURES
from personalization.event_stream import events_backlog, events_drain
from personalization.redis_persistence import redis_persistence_warn


class Command(BaseCommand):
    help = (
        "Move the live views waiting in the Redis Stream into the event log (what Celery beat "
        "runs every CIS_EVENT_DRAIN_SECONDS). With --follow, keep draining until stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--follow",
            action="store_true",
            help="drain every CIS_EVENT_DRAIN_SECONDS until stopped (a drainer without Celery)",
        )

    def handle(self, *args, follow: bool, **options):
        if not settings.CIS_EVENT_STREAM:
            raise CommandError(
                "views are written straight to the event log: there is no stream to drain "
                "(CIS_EVENT_STREAM is off; it needs REDIS_URL)"
            )
        if follow:
            redis_persistence_warn()
        while True:
            try:
                backlog = events_backlog()
                report = events_drain()
            except REDIS_FAILURES as exc:
                if not follow:
                    raise CommandError(f"Redis failed: {exc}") from exc
                self.stderr.write(f"Redis failed ({exc}); trying again")
            except DatabaseError as exc:  # e.g. SQLite locked by a writer for too long
                if not follow:
                    raise CommandError(f"the database failed: {exc}") from exc
                # Unacknowledged, the batch stays pending in the stream: taken over next time.
                self.stderr.write(f"The database failed ({exc}); the views wait, trying again")
            else:
                if report.read or not follow:
                    self.stdout.write(
                        f"{report.written:,} views written to the event log in "
                        f"{report.batches} batch(es), {report.seconds:.2f} s"
                        + (
                            f"; {report.claimed:,} taken over from a drainer that died"
                            if report.claimed
                            else ""
                        )
                        + (
                            f"; {report.already_logged:,} were logged already"
                            if report.already_logged
                            else ""
                        )
                        + (
                            f"; {report.impressions:,} search impressions, "
                            f"{report.clicks:,} clicks on results"
                            if report.impressions or report.clicks
                            else ""
                        )
                        + f" (the stream held {backlog.waiting:,})"
                    )
            if not follow:
                return
            time.sleep(settings.CIS_EVENT_DRAIN_SECONDS)
