"""The time split of a session log: the most recent sessions held out, the older ones kept.

Training holds out the newest sessions to evaluate a version on, and the recommender holds out
the newest of its training sessions to learn its blend weights on: both split with this one
function, so that a share means the same number of sessions everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def sessions_holdout_split(
    sessions: Sequence[T], *, holdout_share: float
) -> tuple[list[T], list[T]]:
    """(kept, held out): the last `holdout_share` of `sessions` (the most recent, for a log in
    time order) held out, the order kept in both.

    The held-out count is `round(len(sessions) * holdout_share)`: the nearest whole number of
    sessions, a tie going to the even one as Python's `round` does (1,350 sessions at 0.15 hold
    out 202). A share of 0 holds out nothing."""
    if not (math.isfinite(holdout_share) and 0 <= holdout_share < 1):
        raise ValueError(f"holdout_share must be at least 0 and below 1, not {holdout_share}")
    cut = len(sessions) - round(len(sessions) * holdout_share)
    return list(sessions[:cut]), list(sessions[cut:])
