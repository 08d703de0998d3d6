"""The comparison `evaluate_recommendations` and each training print: a built recommender, its
parts alone and the baselines, ranked on the same test sessions, with the time of each phase."""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from common.progress import Progress

from .baselines import ItemKnnBaseline, PopularityBaseline
from .config import LINEAR_BLEND, SESSION_VECTOR, RecommenderConfig
from .evaluation import Metrics, Ranks, Scorer, next_item_ranks, recommender_parts_ranks
from .learning import predictions_profile, recommender_build, vectors_training_split
from .model import SessionRecommender
from .prod2vec import Prod2VecParams, prod2vec_train


@dataclass
class Comparison:
    """One evaluation run: each method's ranks, and what the run saw and how long it took."""

    ranks: dict[str, Ranks]
    timings: dict[str, float]  # phase -> seconds
    vocabulary: int
    training_sessions: int
    training_events: int
    pairs: dict[str, int]  # stored entries of each count component
    weights: dict[str, float]
    learning: dict
    test_profile: dict  # the test predictions' repeats, unseen next views and lengths

    def metrics(self) -> dict[str, Metrics]:
        return {name: ranks.metrics() for name, ranks in self.ranks.items()}


def recommenders_compare(
    train_sessions: Sequence[Sequence[str]],
    test_sessions: Sequence[Sequence[str]],
    *,
    params: Prod2VecParams,
    config: RecommenderConfig,
    k: int = 20,
    on_epoch: Callable[[int, int, float], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> Comparison:
    """Train prod2vec once on `train_sessions`, build the default recommender with `config`,
    and rank every test prediction with it and with what `methods_scorers` compares it with,
    timing each phase. `on_phase(name)` hears of each phase as it starts."""
    timings: dict[str, float] = {}
    clock = {"name": None, "since": time.perf_counter()}

    def phase(name: str | None) -> None:
        now = time.perf_counter()
        if clock["name"] is not None:
            timings[clock["name"]] = timings.get(clock["name"], 0.0) + now - clock["since"]
        clock["name"], clock["since"] = name, now
        if name is not None and on_phase is not None:
            on_phase(name)

    phase("training prod2vec")
    earlier, later = vectors_training_split(train_sessions, config)
    trained = prod2vec_train(earlier, params, later=later, on_epoch=on_epoch)
    phase("building the recommender")
    recommender = recommender_build(
        trained.vectors,
        train_sessions,
        config,
        vectors_before_validation=trained.vectors_before_later,
        on_phase=phase,
    )
    del trained  # the recommender keeps unit copies: the raw vectors would only add to the peak
    phase("evaluating")
    ranks = methods_ranks(recommender, train_sessions, test_sessions, k=k)
    phase(None)
    return Comparison(
        ranks=ranks,
        timings={name: round(seconds, 2) for name, seconds in timings.items()},
        vocabulary=len(recommender.items),
        training_sessions=len(train_sessions),
        training_events=sum(len(skus) for skus in train_sessions),
        pairs=recommender.components_sizes(),
        weights=recommender.weights,
        learning=recommender.learning,
        test_profile=predictions_profile(test_sessions, recommender.index),
    )


def comparison_report(runs: Sequence[Comparison], *, reading: float = 0.0) -> list[str]:
    """The lines `evaluate_recommendations` prints for one or more runs (seeds) of the same
    comparison: phases, sizes, learned weights, each method (mean and spread over the runs),
    and the first run's metrics by target and session length. `reading`: seconds spent
    reading the files."""
    lines: list[str] = []
    write = lines.append
    first = runs[0]
    phases = {"reading": reading}
    for name in first.timings:
        phases[name] = statistics.mean(run.timings.get(name, 0.0) for run in runs)
    write("phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()))
    repeat_share = first.ranks["default"].repeat.mean() if len(first.ranks) else 0
    predictions = len(first.ranks["default"].ranks)
    write(
        f"training: {first.training_sessions:,} sessions, {first.training_events:,} views, "
        f"{first.vocabulary:,} products with a vector; test: {predictions:,} predictions "
        f"({100 * repeat_share:.1f}% of them repeats)"
    )
    write("stored pairs: " + ", ".join(f"{n} {size:,}" for n, size in first.pairs.items()))
    learning = first.learning
    validation, test = learning.get("validation_profile"), first.test_profile
    if validation and test:
        write(
            f"validation against test predictions: repeats {validation['repeat_share']:.1f}% "
            f"against {test['repeat_share']:.1f}%, next views never seen in training "
            f"{validation['unseen_share']:.1f}% against {test['unseen_share']:.1f}%, mean "
            f"session length {validation['session_length']:.1f} against "
            f"{test['session_length']:.1f}"
        )
    if learning.get("validation_predictions"):
        weights = ", ".join(f"{name} {weight:.3f}" for name, weight in first.weights.items())
        write(
            f"blend weights: {weights} (learned on {learning['validation_predictions']:,} "
            f"validation predictions: HR {learning['hr']:.2f} MRR {learning['mrr']:.2f})"
        )
    if "ranker_mrr" in learning:
        switch = (
            f"repeat switch AUC {learning['switch_auc']:.3f}, " if "switch_auc" in learning else ""
        )
        kept = "kept" if learning["ranker_mrr"] >= learning["blend_mrr"] else "not kept"
        write(
            f"ranking: learned on {learning['ranker_useful_predictions']:,} of "
            f"{learning['ranker_predictions']:,} validation predictions (those with the next view "
            f"among the candidates), {switch}{learning['ranker_rounds']} rounds; held-out MRR "
            f"{learning['ranker_mrr']:.2f} against the blend's {learning['blend_mrr']:.2f}: {kept}"
        )
    k = first.ranks["default"].k
    for name in first.ranks:
        metrics = [run.ranks[name].metrics() for run in runs]
        hr = [100 * m.hr for m in metrics]
        mrr = [100 * m.mrr for m in metrics]
        if len(runs) == 1:
            write(f"{name} HR@{k} {hr[0]:.2f} MRR@{k} {mrr[0]:.2f}")
        else:
            write(
                f"{name} HR@{k} {statistics.mean(hr):.2f} ±{statistics.stdev(hr):.2f} "
                f"MRR@{k} {statistics.mean(mrr):.2f} ±{statistics.stdev(mrr):.2f} "
                f"({len(runs)} seeds)"
            )
    groups = list(first.ranks["default"].groups())
    write(f"by target and session length, HR@{k} / MRR@{k} (first run):")
    write(f"  {'method':<16}" + "".join(f"{group:>16}" for group in groups))
    for name, ranks in first.ranks.items():
        cells = [
            f"{100 * m.hr:.2f} / {100 * m.mrr:.2f}" if m.predictions else "-"
            for m in ranks.groups().values()
        ]
        write(f"  {name:<16}" + "".join(f"{cell:>16}" for cell in cells))
    counts = [m.predictions for m in first.ranks["default"].groups().values()]
    write(f"  {'predictions':<16}" + "".join(f"{count:>16,}" for count in counts))
    return lines


def methods_scorers(
    recommender: SessionRecommender, train_sessions: Iterable[Sequence[str]]
) -> dict[str, Scorer]:
    """What a built recommender is compared with, in this order: the baselines fitted on
    `train_sessions` ("popularity", "item-knn"), the session vector alone ("session-vector",
    with the recommender's recency and dedupe), each of its count components alone (by name),
    the linear blend of its components ("linear-blend": the default too where no ranker was
    learned), and the recommender itself ("default"). They share its vectors and fitted
    components."""
    scorers: dict[str, Scorer] = {
        "popularity": PopularityBaseline.fit(train_sessions),
        "item-knn": ItemKnnBaseline.fit(train_sessions),
        SESSION_VECTOR: SessionRecommender(
            recommender.vectors, dataclasses.replace(recommender.config, components=())
        ),
    }
    for name, component in recommender.components.items():
        scorers[name] = SessionRecommender(
            recommender.vectors,
            dataclasses.replace(recommender.config, components=(name,), fallback=False),
            components={name: component},
        )
    if recommender.components:
        scorers[LINEAR_BLEND] = SessionRecommender(
            recommender.vectors,
            recommender.config,
            components=recommender.components,
            weights=recommender.weights,
        )
    scorers["default"] = recommender
    return scorers


def methods_ranks(
    recommender: SessionRecommender,
    train_sessions: Iterable[Sequence[str]],
    test_sessions: Sequence[Sequence[str]],
    *,
    k: int = 20,
    progress: Progress | None = None,
) -> dict[str, Ranks]:
    """`next_item_ranks` of each method `methods_scorers` names, in its order: the baselines
    one by one, the recommender's parts and itself in one pass (`recommender_parts_ranks`).
    `progress` (its total set here) is advanced by each method ranked."""
    scorers = methods_scorers(recommender, train_sessions)
    if progress is not None:
        progress.total = len(scorers)
    parts = recommender_parts_ranks(recommender, test_sessions, k=k)
    if progress is not None:
        progress.update(sum(1 for name in scorers if name in parts))
    ranks = {}
    for name, scorer in scorers.items():
        if name in parts:
            ranks[name] = parts[name]
            continue
        ranks[name] = next_item_ranks(scorer, test_sessions, k=k)
        if progress is not None:
            progress.update(1)
    return ranks
