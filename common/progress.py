"""How long work reports how far it has got: one type for imports, exports, indexing, training
data. A tqdm bar is one (commands pass theirs as it is); work may set `total` once it knows.

Work done in stages takes a `StageProgress`: called as each stage starts, it returns that
stage's Progress. `StagedEstimate` is one that knows what the stages cost relative to each
other, so it can say how far the whole has got and how long is left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Progress(Protocol):
    total: float | None  # how many units in all, when known

    def update(self, n: float = 1) -> object:
        """`n` more units are done."""
        ...


StageProgress = Callable[[str, int], Progress]  # progress(stage, total) as a stage starts


class StagedEstimate:
    """The progress of work in stages whose relative costs are known (`costs`: stage -> cost in
    any unit, e.g. seconds measured once), and the time it has left.

    Each stage fills its share of the whole as it reports its own progress; a stage that
    reports none fills its share when the next begins. `on_change(self)` is called at every
    report (throttle what it draws). Stages not in `costs` count for nothing.
    """

    def __init__(
        self,
        costs: dict[str, float],
        *,
        on_change: Callable[[StagedEstimate], None] = lambda estimate: None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.costs, self.on_change, self.clock = costs, on_change, clock
        self.whole = sum(costs.values()) or 1.0
        self.finished_cost = 0.0  # of the stages done
        self.started = clock()
        self.stage: _Stage | None = None
        self.timings: dict[str, float] = {}  # seconds each finished stage took

    def __call__(self, name: str, total: int) -> Progress:
        self.finish()
        self.stage = _Stage(self, name, total, self.clock())
        self.on_change(self)
        return self.stage

    def finish(self) -> None:
        """The current stage is done (whatever it reported)."""
        if self.stage is not None:
            self.finished_cost += self.costs.get(self.stage.name, 0.0)
            self.timings[self.stage.name] = round(self.clock() - self.stage.started, 2)
            self.stage = None

    @property
    def fraction(self) -> float:
        current = 0.0
        if self.stage is not None:
            current = self.costs.get(self.stage.name, 0.0) * self.stage.fraction
        return min(1.0, (self.finished_cost + current) / self.whole)

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    @property
    def seconds_left(self) -> float | None:
        """At the pace so far; None until there is a pace to go by."""
        fraction = self.fraction
        if fraction < 0.02 or self.elapsed < 1:
            return None
        return self.elapsed * (1 - fraction) / fraction


class _Stage:
    def __init__(self, estimate: StagedEstimate, name: str, total: int, started: float):
        self.estimate, self.name, self.started = estimate, name, started
        self.total: float | None = total or None
        self.done = 0.0

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def update(self, n: float = 1) -> None:
        self.done += n
        self.estimate.on_change(self.estimate)
