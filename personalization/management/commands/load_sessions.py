"""`manage.py load_sessions PATH`: import a `sessions.txt` file (TAB separated) as one source."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from personalization.events import SessionImportError, sessions_import

PROBLEMS_SHOWN = 20


class Command(BaseCommand):
    help = (
        "Import sessions (session id, then SKUs, TAB separated). Importing the same --source "
        "again replaces it. Bad lines and unknown SKUs are reported and skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--source", help="label of this import (default: the file's name)")
        parser.add_argument(
            "--strict", action="store_true", help="any problem fails the import; nothing is kept"
        )
        parser.add_argument(
            "--allow-unknown-skus",
            action="store_true",
            help="keep SKUs that are not in the catalog (benchmark logs without a catalog)",
        )

    def handle(self, *args, path: Path, source, strict, allow_unknown_skus, **options):
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc="sessions",
                  disable=None, leave=False) as bar:  # fmt: skip
            try:
                report = sessions_import(
                    path,
                    source=source,
                    strict=strict,
                    allow_unknown_skus=allow_unknown_skus,
                    progress=bar,
                )
            except SessionImportError as exc:
                raise CommandError(f"{exc}\nNothing was changed.") from exc
        for problem in report.problems[:PROBLEMS_SHOWN]:
            self.stderr.write(problem)
        if len(report.problems) > PROBLEMS_SHOWN:
            self.stderr.write(f"... and {len(report.problems) - PROBLEMS_SHOWN} more problems")
        self.stdout.write(
            f"{path} as source {report.source!r}: {report.sessions} sessions, "
            f"{report.events} events imported (replacing {report.replaced_events}); "
            f"{len(report.malformed)} malformed lines, {len(report.unknown_skus)} unknown SKUs "
            f"skipped, {len(report.sessions_emptied)} sessions left empty"
        )
