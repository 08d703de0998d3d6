"""Preparing the demo shop: sample data generated once, loaded once, reused afterwards."""

from collections.abc import Callable
from pathlib import Path

from catalog.models import Product
from catalog.sample_data import sample_data_generate
from catalog.services import catalog_import
from personalization.models import ViewEvent
from personalization.services import sessions_import

SAMPLE_SOURCE = "sample"


def demo_prepare(sample_dir: Path, *, say: Callable[[str], None] = print) -> None:
    """Generate the sample data if it is missing and load what the database lacks."""
    catalog_file, sessions_file = sample_dir / "catalog.csv", sample_dir / "sessions.txt"
    if not (catalog_file.is_file() and sessions_file.is_file()):
        say(f"Generating the sample shop in {sample_dir} ...")
        sample_data_generate(sample_dir)
    if not Product.objects.exists():
        report = catalog_import(catalog_file)
        say(f"Loaded {report.created} products.")
    if not ViewEvent.objects.filter(source=SAMPLE_SOURCE).exists():
        report = sessions_import(sessions_file, source=SAMPLE_SOURCE)
        say(f"Loaded {report.sessions} sample sessions ({report.events} views).")
    say("The demo shop is ready.")
