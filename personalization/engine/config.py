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
# The blend of the components with their learned weights, when a ranker orders the default.
LINEAR_BLEND = "linear-blend"
# Added to blended scores where the session vector only ranks what has no evidence, so that the
# products with evidence rank above every cosine.
FALLBACK_OFFSET = 2.0


@dataclass(frozen=True)
class RecommenderConfig:
    """How a session is turned into scores.

    The recommender blends the count components named in `components`, with weights learned at
    each build on the most recent `validation_share` of the training sessions. With
    `blend_session_vector`, the session vector is blended too, its weight learned with vectors
    trained before those sessions (see `vectors_training_split`). Where its weight is 0, with
    `fallback`, the session vector ranks the products none of the components has evidence for,
    after those that have. With no component, it is the session vector alone. With
    `learn_ranking`, a ranker learned on the same sessions orders the components' candidates
    (`ranking.py`), the blend ordering what follows them.

    The defaults scored best on validation splits of both shared data sets (rsc15-100k and
    nowplaying), the simpler one within noise: docs/tuning.md gives the figures.
    """

    half_life: float | None = 1.0  # in views: a view this many views ago weighs half; None: mean
    dedupe: bool = True  # the session vector counts a SKU viewed again once, at its latest view
    components: tuple[str, ...] = COMPONENTS
    fallback: bool = True
    neighbours: int = 100  # V-SKNN's k: the most similar training sessions used
    # V-SKNN's pool: the most recent training sessions its neighbours are drawn from (as
    # session-rec samples recent sessions), so that a request's cost and the version's files do
    # not grow with all history; larger than both shared data sets' training sets.
    neighbour_sessions: int = 200_000
    transitions_window: int = 3  # views later that still count as "viewed next"
    transitions_prior: float = 10.0  # pseudo-count shrinking P(next j | i) for rarely viewed i
    cooccurrence_window: int = 5  # views apart (either side) that still count as viewed together
    cooccurrence_prior: float = 50.0
    validation_share: float = 0.15  # the most recent training sessions that learn the weights
    learn_weights: bool = True  # False: every component weighs the same
    # Learn the session vector's weight in the blend too (Word2Vec then trains on the sessions
    # before the validation ones, then on those, as `vectors_training_split` says). Off: the
    # ranking reads its cosine beside the components' evidence and learns as well without it,
    # 20 s sooner on nowplaying (docs/tuning.md); the blend ranks by it only what no component
    # has evidence for.
    blend_session_vector: bool = False
    # Learn a ranker (LightGBM's lambdarank, see `ranking.py`) over the components' candidates
    # on the same validation sessions: the default's order, the blend its fallback.
    learn_ranking: bool = True

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
        for name in (
            "neighbours",
            "neighbour_sessions",
            "transitions_window",
            "cooccurrence_window",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if not 0 < self.validation_share < 1:
            raise ValueError(
                f"validation_share must be between 0 and 1, not {self.validation_share!r}"
            )

    @property
    def vectors_in_two_passes(self) -> bool:
        """Whether Word2Vec trains on the sessions before the validation ones, then on those
        (`learning.vectors_training_split`): what the session vector's blend weight and the
        ranking learn with, vectors that never saw the validation sessions."""
        reads_vectors = self.blend_session_vector or self.learn_ranking
        return bool(self.components) and self.learn_weights and reads_vectors

    def as_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["components"] = list(self.components)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RecommenderConfig:
        """A config from stored values; missing keys take the defaults, unknown keys are refused."""
        return dataclass_from_dict(cls, values)
