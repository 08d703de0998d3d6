"""Preparing the demo shop: sample data generated once, loaded once, reused afterwards."""

from collections.abc import Callable
from pathlib import Path

from catalog.importing import catalog_import
from catalog.models import Product
from catalog.sample_data import sample_data_generate
from catalog.search import UNAVAILABLE, search_index_check
from personalization.events import sessions_import
from personalization.models import EmbeddingVersion, ViewEvent
from personalization.training import embeddings_train
from personalization.versions import training_version_create

SAMPLE_SOURCE = "sample"


def demo_prepare(sample_dir: Path, *, say: Callable[[str], None] = print) -> None:
    """Generate the sample data if it is missing, load what the database lacks, and train the
    first embeddings if none serve yet."""
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
    if not EmbeddingVersion.objects.filter(kind="product", is_active=True).exists():
        say("Training product embeddings on the sample sessions ...")
        version = training_version_create(triggered_by="demo_setup")
        version = embeddings_train(version.pk)
        say(f"Trained v{version.pk} in {version.training_seconds:.0f} s.")
    # Only an index behind the catalog (or the model) is rebuilt: a second start is quick, and
    # one that follows a crash between a catalog write and its refresh repairs the index.
    for check in search_index_check():
        if check.report is not None:
            say(f"Indexed {check.report.products} products for {check.backend} search.")
        elif check.outcome == UNAVAILABLE:
            say(f"The {check.backend} search index cannot be checked: {check.detail}")
    say("The demo shop is ready.")
