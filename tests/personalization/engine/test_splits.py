"""personalization.engine.splits: the most recent sessions held out, for training and the blend."""

import math

import pytest

from personalization.engine.splits import sessions_holdout_split


def test_holdout_split_keeps_the_last_share_in_order():
    train, holdout = sessions_holdout_split(list(range(20)), holdout_share=0.15)
    assert train == list(range(17)) and holdout == [17, 18, 19]
    with pytest.raises(ValueError):
        sessions_holdout_split([1, 2], holdout_share=1.0)


@pytest.mark.parametrize(
    "sessions, share, held",
    [
        (0, 0.15, 0),  # nothing to split
        (1, 0.15, 0),  # 0.15 of a session rounds to none
        (3, 0.15, 0),  # 0.45
        (4, 0.15, 1),  # 0.6: to the nearest, where the floor would hold out none
        (19, 0.1, 2),  # 1.9
        (1500, 0.1, 150),  # the sample shop's holdout
        (17794, 0.15, 2669),  # rsc15-100k's validation split: 2,669.1
        (128077, 0.15, 19212),  # nowplaying's: 19,211.55
        (100, 0.29, 29),  # 28.999999999999996 in floating point: the floor would give 28
    ],
)
def test_the_held_out_count_is_the_share_rounded_to_the_nearest_session(sessions, share, held):
    kept, holdout = sessions_holdout_split(list(range(sessions)), holdout_share=share)
    assert len(holdout) == held and len(kept) == sessions - held
    assert kept + holdout == list(range(sessions))


@pytest.mark.parametrize("sessions, held", [(10, 2), (30, 4), (1350, 202)])
def test_a_tie_goes_to_the_even_count(sessions, held):
    # 1.5, 4.5 and 202.5 sessions at 0.15
    assert len(sessions_holdout_split(list(range(sessions)), holdout_share=0.15)[1]) == held


def test_a_share_of_zero_holds_out_nothing_and_a_tuple_splits_into_lists():
    assert sessions_holdout_split((["a"], ["b"]), holdout_share=0.0) == ([["a"], ["b"]], [])
    assert sessions_holdout_split(("x", "y", "z", "w"), holdout_share=0.5) == (
        ["x", "y"],
        ["z", "w"],
    )


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5, math.nan, math.inf])
def test_a_share_outside_zero_to_one_is_refused(share):
    with pytest.raises(ValueError, match="holdout_share must be at least 0 and below 1"):
        sessions_holdout_split([["a", "b"]] * 10, holdout_share=share)
