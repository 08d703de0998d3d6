"""`manage.py demo_setup`: what `make demo` runs before serving the shop."""

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from storefront.demo import demo_prepare


class Command(BaseCommand):
    help = "Migrate, then generate and load the sample shop unless it is already there."

    def add_arguments(self, parser):
        parser.add_argument(
            "--sample-dir", type=Path, default=None, help="default: <CIS_DATA_DIR>/sample"
        )

    def handle(self, *args, sample_dir: Path | None, **options):
        call_command("migrate", interactive=False, verbosity=0)
        demo_prepare(sample_dir or settings.DATA_DIR / "sample", say=self.stdout.write)
