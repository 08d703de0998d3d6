"""`manage.py index_catalog [--backend NAME] [--check]`: rebuild a search engine's index from the
catalog, or (`--check`) only the indexes that are behind it."""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog import search


class Command(BaseCommand):
    help = (
        "Rebuild the search index of SEARCH_BACKEND (or --backend) from every product; with "
        "--check, rebuild only the indexes that do not hold the catalog's current version."
    )

    def add_arguments(self, parser):
        parser.add_argument("--backend", choices=search.search_backend_names(),
                            help="default: the SEARCH_BACKEND setting")  # fmt: skip
        parser.add_argument("--check", action="store_true",
                            help="compare each index with the catalog; rebuild those behind "
                                 "(run it when the shop starts)")  # fmt: skip

    def handle(self, *args, backend: str | None, check: bool, **options):
        if check:
            if backend:
                raise CommandError("--check checks the configured engine's index: no --backend")
            for found in search.search_index_check():
                self.stdout.write(f"The {found.backend} search index {_told(found)}")
            return
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


def _told(found: search.SearchIndexCheck) -> str:
    if found.report is not None:
        return (
            f"was behind ({found.detail}): rebuilt with {found.report.products} products "
            f"in {found.report.seconds:.1f} s"
        )
    outcome = search.IndexCheckOutcome
    return {
        outcome.CURRENT: "holds the catalog's current version",
        outcome.WAITING: f"is behind ({found.detail}); its refresh may still be running",
        outcome.MISSING: "does not exist yet; its first search builds it",
    }.get(found.outcome, f"cannot be checked: {found.detail}")
