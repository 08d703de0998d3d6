"""`manage.py export_sessions PATH`: write every session, live and imported, as sessions.txt."""

from pathlib import Path

from django.core.management.base import BaseCommand
from tqdm import tqdm

from personalization.events import sessions_export


class Command(BaseCommand):
    help = "Write all logged sessions (live and imported) in the sessions.txt format."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options):
        with tqdm(unit=" sessions", desc="export", disable=None, leave=False) as bar:
            sessions, events = sessions_export(path, progress=bar)
        self.stdout.write(f"{path}: {sessions} sessions, {events} events")
