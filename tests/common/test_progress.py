"""common.progress: the estimate of how far staged work has got and how long it has left."""

from common.progress import StagedEstimate


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_stage_fills_its_share_and_the_time_left_follows_the_pace():
    clock, seen = Clock(), []
    estimate = StagedEstimate({"load": 10, "train": 30}, clock=clock, on_change=seen.append)
    load = estimate("load", 4)
    assert estimate.fraction == 0 and estimate.seconds_left is None  # no pace yet
    clock.now += 5
    load.update(2)  # half of a quarter of the whole, in 5 s
    assert estimate.fraction == 0.125
    assert estimate.seconds_left == 35  # 5 s for 1/8: 35 s for the other 7/8
    train = estimate("train", 0)  # a stage that reports nothing: load counts as done
    assert estimate.fraction == 0.25 and train.total is None
    clock.now += 5
    train.total = 3  # as work sets its total once it knows
    train.update(3)
    assert estimate.fraction == 1 and estimate.seconds_left == 0
    estimate.finish()
    assert estimate.timings == {"load": 5.0, "train": 5.0}
    assert len(seen) == 4  # two stage starts, two updates


def test_a_stage_without_a_cost_moves_nothing_and_overruns_stop_at_the_whole():
    estimate = StagedEstimate({"train": 1}, clock=Clock())
    estimate("unplanned", 10).update(10)
    assert estimate.fraction == 0
    estimate("train", 2).update(5)
    assert estimate.fraction == 1
