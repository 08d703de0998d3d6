"""`manage.py remove_sessions SOURCE`: delete one imported source from the view log."""

from django.core.management.base import BaseCommand, CommandError

from personalization.events import SessionImportError, sessions_remove


class Command(BaseCommand):
    help = "Delete every event of an imported source (see load_sessions --source)."

    def add_arguments(self, parser):
        parser.add_argument("source")

    def handle(self, *args, source: str, **options):
        try:
            deleted = sessions_remove(source)
        except SessionImportError as exc:
            raise CommandError(str(exc)) from exc
        if not deleted:
            raise CommandError(f"no events with source {source!r}")
        self.stdout.write(f"removed {deleted} events of source {source!r}")
