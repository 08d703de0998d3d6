"""`manage.py train_embeddings`: train, evaluate and (maybe) activate product embeddings now."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from personalization.training import embeddings_train
from personalization.versions import TrainingError, training_version_create

PARAMS = {
    "vector_size": int,
    "window": int,
    "epochs": int,
    "min_count": int,
    "negative": int,
    "ns_exponent": float,
    "sample": float,
}


class Command(BaseCommand):
    help = (
        "Train prod2vec embeddings from the logged sessions (--days: of the last days only), "
        "evaluate them on the most recent sessions and activate them if they are not worse than "
        "the active version."
    )

    def add_arguments(self, parser):
        choice = parser.add_mutually_exclusive_group()
        choice.add_argument("--activate", action="store_true", help="activate even if worse")
        choice.add_argument("--no-activate", action="store_true", help="never activate")
        for name, kind in PARAMS.items():
            parser.add_argument(f"--{name.replace('_', '-')}", type=kind, dest=name)
        parser.add_argument(
            "--days",
            type=int,
            dest="window_days",
            help="train on the views of the last DAYS days (0: all; default CIS_TRAINING_WINDOW)",
        )
        algorithm = parser.add_mutually_exclusive_group()
        algorithm.add_argument("--sg", action="store_const", const=True, dest="sg")
        algorithm.add_argument("--cbow", action="store_const", const=False, dest="sg")

    def handle(self, *args, activate, no_activate, window_days, **options):
        params = {k: options[k] for k in [*PARAMS, "sg"] if options.get(k) is not None}
        try:
            version = training_version_create(
                params=params, triggered_by="train_embeddings", window_days=window_days
            )
            with tqdm(desc="epochs", unit=" epoch", disable=None) as bar:

                def on_epoch(epoch, epochs, loss):
                    bar.total = epochs
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4g}")

                choice = True if activate else (False if no_activate else None)
                version = embeddings_train(version.pk, activate=choice, on_epoch=on_epoch)
        except (TrainingError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"v{version.pk}: {version.sessions} sessions, {version.events} events, "
            f"{version.vocabulary} products with a vector, {version.training_seconds:.1f} s; "
            f"evaluated on {version.holdout_sessions} held-out sessions"
        )
        for name, m in version.metrics.items():
            self.stdout.write(
                f"  {name:<16} HR@{m['k']} {m['hr']:6.2f}  MRR@{m['k']} {m['mrr']:6.2f}"
            )
        state = "active" if version.is_active else "not activated (the active version is better)"
        self.stdout.write(f"v{version.pk} is {state}")
