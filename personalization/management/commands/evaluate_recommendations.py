"""`manage.py evaluate_recommendations --train TRAIN --test TEST [--seeds N]`: offline HR@K /
MRR@K of the baselines, each component, the session vector, the linear blend and the default
recommender (the learned ranking), with the time of each phase, the sizes and weights learned,
and the metrics split by repeat or new target and by session length (no catalog or database
needed)."""

import dataclasses
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from personalization.engine.comparison import comparison_report, recommenders_compare
from personalization.engine.config import RecommenderConfig
from personalization.engine.prod2vec import SEED_PARAMS, Prod2VecParams
from personalization.engine.sessions_file import SessionsFileError, sessions_file_read


class Command(BaseCommand):
    help = (
        "Train on TRAIN (sessions.txt format) and print, for each method, HR@K and MRR@K of "
        "predicting every next view of the TEST sessions."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--train", type=Path, required=True)
        parser.add_argument("--test", type=Path, required=True)
        parser.add_argument("--k", type=int, default=20, help="length of the list (default 20)")
        parser.add_argument(
            "--seeds", type=int, default=1, help="runs with seeds 1..N: the mean and spread"
        )
        parser.add_argument(
            "--seed-params", action="store_true", help="train with the seed's Word2Vec settings"
        )

    def handle(self, *args, train: Path, test: Path, k: int, seeds: int, seed_params, **options):
        if k < 1:
            raise CommandError(f"--k must be at least 1, not {k}")
        if seeds < 1:
            raise CommandError(f"--seeds must be at least 1, not {seeds}")
        for path in (train, test):
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
        started = time.perf_counter()
        try:
            train_sessions = [line.skus for line in sessions_file_read(train)]
            test_sessions = [line.skus for line in sessions_file_read(test)]
        except SessionsFileError as exc:
            raise CommandError(str(exc)) from exc
        reading = time.perf_counter() - started
        params = SEED_PARAMS if seed_params else Prod2VecParams()
        runs = []
        for seed in range(1, seeds + 1):
            runs.append(self.run(train, train_sessions, test_sessions, params, seed, k))
        for line in comparison_report(runs, reading=reading):
            self.stdout.write(line)

    def run(self, train, train_sessions, test_sessions, params, seed, k):
        params = dataclasses.replace(params, seed=seed)
        with tqdm(total=params.epochs, desc="prod2vec epochs", disable=None, leave=False) as bar:

            def epoch_done(epoch: int, epochs: int, loss: float) -> None:
                bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                bar.update()

            try:
                return recommenders_compare(
                    train_sessions,
                    test_sessions,
                    params=params,
                    config=RecommenderConfig(),
                    k=k,
                    on_epoch=epoch_done,
                    on_phase=lambda name: bar.set_description(name, refresh=False),
                )
            except ValueError as exc:  # e.g. no product has enough views to get a vector
                raise CommandError(f"{train}: {exc}") from exc
