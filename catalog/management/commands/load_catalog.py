"""`manage.py load_catalog PATH [--prune]`: make the catalog match a `catalog.csv` file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog.importing import CatalogImportError, catalog_import


class Command(BaseCommand):
    help = "Load products from a CSV file with the header sku,name,target,image (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--prune", action="store_true", help="delete products that are not in the file"
        )

    def handle(self, *args, path: Path, prune: bool, **options):
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc="catalog",
                  disable=None, leave=False) as bar:  # fmt: skip
            try:
                report = catalog_import(path, prune=prune, progress=bar)
            except CatalogImportError as exc:
                raise CommandError(f"{exc}\nNothing was changed.") from exc
        self.stdout.write(
            f"{path}: {report.rows} rows; created {report.created}, updated {report.updated}, "
            f"unchanged {report.unchanged}, pruned {report.pruned}; "
            f"images copied {report.images_copied}"
        )
