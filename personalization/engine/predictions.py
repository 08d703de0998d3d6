"""Next-view predictions of logged sessions: what the evaluation ranks and the blend learns on.

Each position i >= 1 of a session is one prediction: the views before it, oldest first, and the
view at i, the one to predict (session-rec's protocol). Repeated views are predicted like any
other, so a session of n views gives n - 1 predictions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple


class Prediction(NamedTuple):
    prefix: Sequence[str]  # the views before the target, oldest first
    target: str  # the view to predict
    session: Sequence[str]  # the whole session both come from


def predictions_enumerate(sessions: Iterable[Sequence[str]]) -> Iterator[Prediction]:
    """Every next-view prediction of `sessions`, session by session, position by position."""
    for skus in sessions:
        for position in range(1, len(skus)):
            yield Prediction(skus[:position], skus[position], skus)
