"""Preparing the demo shop: sample data generated once, loaded once, reused afterwards."""

from collections.abc import Callable
from pathlib import Path

from catalog.importing import catalog_import
from catalog.models import Product
from catalog.sample_data import sample_data_generate
from catalog.search import search_index_rebuild
from personalization.events import sessions_import
from personalization.models import EmbeddingVersion, ViewEvent
from personalization.serving import product_vectors_active
from personalization.training import (
    SAMPLE_WORD_PARAMS,
    embeddings_train,
    word_embeddings_train,
    word_sample_corpus,
)
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
    report = search_index_rebuild(vectors=product_vectors_active())
    say(f"Indexed {report.products} products for {report.backend} search.")
    demo_words_prepare(say=say)
    say("The demo shop is ready.")


def demo_words_prepare(*, say: Callable[[str], None] = print) -> None:
    """Train the word explorer's model on the small news corpus gensim ships, if no word model
    serves yet: two seconds, and /space/explore/?kind=word works out of the box."""
    if EmbeddingVersion.objects.filter(kind=EmbeddingVersion.Kind.WORD, is_active=True).exists():
        return
    version = training_version_create(
        kind=EmbeddingVersion.Kind.WORD,
        params=SAMPLE_WORD_PARAMS,
        corpus=word_sample_corpus(),
        triggered_by="demo_setup",
    )
    version = word_embeddings_train(version.pk)
    say(
        f"Trained word vectors v{version.pk} on gensim's sample news text in "
        f"{version.training_seconds:.0f} s."
    )
