"""personalization.engine.interleaving: team draft, its credit, and the statistics checked
against scipy's own (the Wilson interval and the sign test of binomtest, Welch's ttest_ind)."""

import math
import random

import numpy as np
import pytest
from scipy import stats

from personalization.engine.interleaving import (
    LOSS,
    PERSONALIZED,
    PLAIN,
    TIE,
    WIN,
    arm_clicks,
    arms_difference,
    arms_difference_running,
    credit,
    settled_from,
    team_draft,
    win_share,
    win_share_running,
)

# Hand-worked team draft credit: the letters are the team of each shown position.
CREDIT_CASES = [
    ("PBPB", [0], WIN),  # one click, on a personalized result
    ("PBPB", [1], LOSS),  # one click, on a plain result
    ("PBPB", [0, 2], WIN),  # two clicks, both personalized
    ("PBPB", [1, 3], LOSS),
    ("PBPB", [0, 1], TIE),  # one click each
    ("PBBP", [0, 1, 2, 3], TIE),  # two each
    ("PBBP", [0, 1, 2], LOSS),  # plain 2, personalized 1
    ("PPBB", [3, 0, 1], WIN),  # in any order
    ("PBPB", [], None),  # no click: not counted
    ("PBPB", [0, 0, 0, 1], TIE),  # a position clicked thrice counts once
    ("PBPB", [1, 1, 0], TIE),
    ("PBPB", [2, 2], WIN),
    ("PB", [5], None),  # a position past the list is not a click on it
    ("PB", [5, 1], LOSS),
    ("", [0], None),  # identical orders: nothing to credit
]


@pytest.mark.parametrize(("teams", "clicked", "outcome"), CREDIT_CASES)
def test_credit_follows_the_team_of_the_clicked_results(teams, clicked, outcome):
    assert credit(teams, clicked) == outcome


def test_team_draft_of_two_equal_rankings_shows_that_ranking():
    ranking = [f"s{i}" for i in range(10)]
    for seed in range(20):
        shown = team_draft(ranking, ranking, length=6, rng=random.Random(seed))
        assert shown.items == ranking[:6]
        assert len(shown.teams) == 6
        assert shown.teams.count(PERSONALIZED) == 3  # each round one pick each


def test_team_draft_shows_each_item_once_and_keeps_each_rankers_order():
    personalized = ["a", "b", "c", "d", "e", "f"]
    plain = ["d", "c", "f", "a", "g", "h"]
    for seed in range(50):
        shown = team_draft(personalized, plain, length=6, rng=random.Random(seed))
        assert len(shown.items) == len(set(shown.items)) == 6
        for team, ranking in ((PERSONALIZED, personalized), (PLAIN, plain)):
            picked = [item for item, t in zip(shown.items, shown.teams, strict=True) if t == team]
            assert picked == sorted(picked, key=ranking.index)
        # after every round (pairs of picks) the teams are even
        for end in range(2, 7, 2):
            assert shown.teams[:end].count(PERSONALIZED) == end // 2


def test_team_draft_a_known_interleaving():
    # Worked by hand: A = (a, b, c, d), B = (b, d, a, c). If A picks first
    # in round one and B first in round two: a (A), b (B), then B wants d, A wants c.
    class Coins:
        def __init__(self, values):
            self.values = iter(values)

        def random(self):
            return next(self.values)

    shown = team_draft(["a", "b", "c", "d"], ["b", "d", "a", "c"], length=4, rng=Coins([0.1, 0.9]))
    assert shown.items == ["a", "b", "d", "c"]
    assert shown.teams == "PBBP"
    assert credit(shown.teams, [2]) == LOSS  # a click on d, plain's pick


@pytest.mark.parametrize(("wins", "losses"), [(1, 0), (5, 5), (62, 38), (3, 17), (610, 390)])
def test_win_share_matches_scipys_wilson_interval_and_sign_test(wins, losses):
    share = win_share(wins, losses, 7)
    reference = stats.binomtest(wins, wins + losses, 0.5)
    interval = reference.proportion_ci(confidence_level=0.95, method="wilson")
    assert share.share == pytest.approx(wins / (wins + losses))
    assert share.low == pytest.approx(interval.low, abs=1e-9)
    assert share.high == pytest.approx(interval.high, abs=1e-9)
    assert share.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert share.ties == 7


def test_win_share_with_nothing_decided_is_undefined():
    share = win_share(0, 0, 4)
    assert (share.share, share.low, share.high, share.p_value) == (None, None, None, None)


def test_running_win_share_equals_the_win_share_at_every_point():
    outcomes = np.array([1, 0, 1, 1, -1, 1, 0, 1, 1, 1])  # 1 win, 0 loss, -1 tie
    wins, losses = np.cumsum(outcomes == 1), np.cumsum(outcomes == 0)
    shares, lows, highs, p_values = win_share_running(wins, losses)
    for i in range(len(outcomes)):
        point = win_share(int(wins[i]), int(losses[i]))
        assert (shares[i], lows[i], highs[i], p_values[i]) == pytest.approx(
            (point.share, point.low, point.high, point.p_value)
        )


def test_running_win_share_is_nan_before_the_first_decided_impression():
    shares, lows, _, p_values = win_share_running(np.array([0, 0, 1]), np.array([0, 0, 0]))
    assert np.isnan(shares[:2]).all() and np.isnan(p_values[:2]).all()
    assert shares[2] == 1.0 and lows[2] > 0


def test_arm_clicks_counts_clicked_impressions_and_averages_reciprocal_ranks():
    arm = arm_clicks([1.0, 0.0, 0.5, 0.0, 0.25])
    assert (arm.impressions, arm.clicked) == (5, 3)
    assert arm.ctr == pytest.approx(0.6)
    assert arm.mrr == pytest.approx(1.75 / 5)
    assert arm_clicks([]) == type(arm)(0, 0, None, None)


def test_arms_difference_matches_scipys_welch_test_and_its_interval():
    rng = np.random.default_rng(3)
    ranks = [0.0, 1.0, 0.5, 1 / 3, 0.25]
    treatment = rng.choice(ranks, size=140, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    control = rng.choice(ranks, size=90, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    ours = arms_difference(treatment, control)
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    interval = reference.confidence_interval(confidence_level=0.95)
    assert ours.difference == pytest.approx(treatment.mean() - control.mean())
    assert ours.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert (ours.low, ours.high) == pytest.approx((interval.low, interval.high), rel=1e-9)


def test_running_difference_matches_welch_on_every_prefix():
    rng = np.random.default_rng(5)
    values = rng.choice([0.0, 1.0, 0.5], size=60)
    arm = rng.random(60) < 0.5  # True: the treatment's impression
    treatment = np.where(arm, values, np.nan)
    control = np.where(arm, np.nan, values)
    difference, low, high, p_value = arms_difference_running(treatment, control)
    for end in (10, 25, 60):
        t, c = values[:end][arm[:end]], values[:end][~arm[:end]]
        reference = stats.ttest_ind(t, c, equal_var=False)
        interval = reference.confidence_interval()
        assert difference[end - 1] == pytest.approx(t.mean() - c.mean())
        assert p_value[end - 1] == pytest.approx(reference.pvalue, rel=1e-9)
        assert (low[end - 1], high[end - 1]) == pytest.approx((interval.low, interval.high))


def test_arms_difference_is_undefined_without_two_impressions_or_variance_in_each_arm():
    assert arms_difference([1.0], [0.0, 1.0]).difference is None
    assert arms_difference([0.0, 0.0], [0.0, 0.0]).p_value is None  # no variance at all
    assert arms_difference([], []).difference is None
    running = arms_difference_running(np.array([1.0, np.nan]), np.array([np.nan, 0.0]))
    assert all(math.isnan(v) for v in running[0])


@pytest.mark.parametrize(
    ("significant", "settled"),
    [
        ([False, True, True], 2),
        ([True, False, True, True], 3),
        ([True, True, False], None),  # not significant at the end
        ([True, True], 1),
        ([False, False], None),
        ([], None),
    ],
)
def test_settled_from_is_where_significance_stays_to_the_end(significant, settled):
    assert settled_from(np.array(significant, dtype=bool)) == settled
