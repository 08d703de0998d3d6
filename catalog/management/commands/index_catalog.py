"""`manage.py index_catalog [--backend NAME]`: rebuild a search engine's index from the catalog."""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog import search


class Command(BaseCommand):
    help = "Rebuild the search index of SEARCH_BACKEND (or --backend) from every product."

    def add_arguments(self, parser):
        parser.add_argument("--backend", choices=search.search_backend_names(),
                            help="default: the SEARCH_BACKEND setting")  # fmt: skip

    def handle(self, *args, backend: str | None, **options):
        name = backend or search.search_backend_configured()
        with tqdm(unit=" products", desc=f"{name} index", disable=None, leave=False) as bar:
            try:
                report = search.search_index_rebuild(
                    backend=backend, vectors=search.product_vectors(), progress=bar
                )
            except ImproperlyConfigured as exc:
                raise CommandError(str(exc)) from exc
            except search.SearchUnavailable as exc:
                raise CommandError(
                    f"{search.search_backend_label(name)} is unavailable: {exc}\n"
                    "The index that serves searches was not replaced."
                ) from exc
        self.stdout.write(
            f"Indexed {report.products} products into the {report.backend} search index "
            f"in {report.seconds:.1f} s"
        )
