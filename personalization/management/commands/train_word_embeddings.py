"""`manage.py train_word_embeddings --corpus PATH | --sample`: word vectors from a plain-text
corpus, or from the small news corpus that gensim ships."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from personalization.models import EmbeddingVersion
from personalization.training import (
    SAMPLE_WORD_PARAMS,
    word_embeddings_train,
    word_sample_corpus,
)
from personalization.versions import TrainingError, training_version_create


class Command(BaseCommand):
    help = (
        "Train word embeddings from a text file (one sentence a line; lower-cased, punctuation "
        "stripped) and save them as a word model version."
    )

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--corpus", type=Path, help="a text file, one sentence a line")
        source.add_argument(
            "--sample",
            action="store_true",
            help="the 300 news paragraphs gensim ships (seconds; for trying the explorer)",
        )
        parser.add_argument("--max-sentences", type=int, help="use at most this many sentences")
        parser.add_argument("--vector-size", type=int)
        parser.add_argument("--window", type=int)
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--min-count", type=int)
        parser.add_argument("--no-activate", action="store_true")

    def handle(
        self, *args, corpus: Path | None, sample: bool, max_sentences, no_activate, **options
    ):
        if sample:
            corpus = word_sample_corpus()
        if not corpus.is_file():
            raise CommandError(f"{corpus}: no such file")
        names = ["vector_size", "window", "epochs", "min_count"]
        params = {name: options[name] for name in names if options.get(name) is not None}
        if sample:
            params = {**SAMPLE_WORD_PARAMS, **params}
        try:
            version = training_version_create(
                kind=EmbeddingVersion.Kind.WORD,
                params=params,
                corpus=corpus.resolve(),
                max_sentences=max_sentences,
                triggered_by="train_word_embeddings",
            )
            with tqdm(desc="epochs", unit=" epoch", disable=None) as bar:

                def on_epoch(epoch, epochs, loss):
                    bar.total = epochs
                    bar.update(1)

                version = word_embeddings_train(
                    version.pk, activate=False if no_activate else None, on_epoch=on_epoch
                )
        except (TrainingError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        score = version.metrics.get("wordsim353")
        self.stdout.write(
            f"word v{version.pk}: {version.sessions} sentences, {version.events} words, "
            f"{version.vocabulary} words with a vector, {version.training_seconds:.1f} s"
            + (f"; WordSim-353 Spearman {score['spearman']:.1f}" if score else "")
            + ("; active" if version.is_active else "")
        )
