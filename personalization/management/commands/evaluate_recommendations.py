"""`manage.py evaluate_recommendations --train TRAIN --test TEST`: offline HR@K / MRR@K of the
baselines, the session vector and the default recommender (no catalog or database needed)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from personalization.engine.evaluation import recommenders_compare
from personalization.engine.prod2vec import SEED_PARAMS, Prod2VecParams
from personalization.engine.recommender import RecommenderConfig
from personalization.engine.sessions_file import SessionsFileError, sessions_file_read


class Command(BaseCommand):
    help = (
        "Train prod2vec on TRAIN (sessions.txt format) and print, for each method, HR@K and "
        "MRR@K of predicting every next view of the TEST sessions."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--train", type=Path, required=True)
        parser.add_argument("--test", type=Path, required=True)
        parser.add_argument("--k", type=int, default=20, help="length of the list (default 20)")
        parser.add_argument(
            "--seed-params", action="store_true", help="train with the seed's Word2Vec settings"
        )

    def handle(self, *args, train: Path, test: Path, k: int, seed_params: bool, **options):
        if k < 1:
            raise CommandError(f"--k must be at least 1, not {k}")
        for path in (train, test):
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
        try:
            train_sessions = [line.skus for line in sessions_file_read(train)]
            test_sessions = [line.skus for line in sessions_file_read(test)]
        except SessionsFileError as exc:
            raise CommandError(str(exc)) from exc
        params = SEED_PARAMS if seed_params else Prod2VecParams()
        with tqdm(total=params.epochs, desc="prod2vec epochs", disable=None, leave=False) as bar:

            def epoch_done(epoch: int, epochs: int, loss: float) -> None:
                bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                bar.update()

            try:
                results = recommenders_compare(
                    train_sessions,
                    test_sessions,
                    params=params,
                    config=RecommenderConfig(),
                    k=k,
                    on_epoch=epoch_done,
                )
            except ValueError as exc:  # e.g. no product has enough views to get a vector
                raise CommandError(f"{train}: {exc}") from exc
        for name, metrics in results.items():
            self.stdout.write(metrics.line(name))
