"""personalization/experiment_results.py: the experiments' figures from recorded impressions
and clicks."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from factories import impression_make
from scipy import stats

from personalization.engine.interleaving import WinShare, win_share
from personalization.experiment_results import (
    experiment_results,
    interleaving_line,
    query_key,
    since_parse,
)
from personalization.models import ResultClick, SearchImpression

pytestmark = pytest.mark.django_db

Arm = SearchImpression.Arm
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_interleaving_counts_wins_losses_and_ties_of_lists_whose_orders_differed():
    impression_make(Arm.INTERLEAVED, teams="PBPB", clicks=(0,), minutes=1)  # win
    impression_make(Arm.INTERLEAVED, teams="PBPB", clicks=(1, 3), minutes=2)  # loss
    impression_make(Arm.INTERLEAVED, teams="PBPB", clicks=(0, 1), minutes=3)  # tie
    impression_make(Arm.INTERLEAVED, teams="BPPB", clicks=(1, 2, 0), minutes=4)  # win, 2 to 1
    impression_make(Arm.INTERLEAVED, teams="PBPB", minutes=5)  # no click: not counted
    impression_make(Arm.INTERLEAVED, teams="", clicks=(0,), minutes=6)  # same orders
    impression_make(Arm.PERSONALIZED, clicks=(0,), minutes=7)  # outside the experiment
    ResultClick.objects.create(  # for an impression never recorded: ignored
        impression_id="f" * 32, position=0, sku="S0", clicked_at=START
    )

    results = experiment_results().interleaving

    assert (results.impressions, results.differing, results.clicked) == (6, 5, 5)
    assert results.win_share == win_share(2, 1, 1)
    assert results.win_share.share == pytest.approx(2 / 3)


def test_running_win_share_follows_the_order_impressions_were_shown_in():
    # created out of order: the loss was shown first
    impression_make(Arm.INTERLEAVED, teams="PB", clicks=(0,), minutes=20)
    impression_make(Arm.INTERLEAVED, teams="PB", clicks=(1,), minutes=10)
    impression_make(Arm.INTERLEAVED, teams="PB", minutes=30)  # not decided
    impression_make(Arm.INTERLEAVED, teams="", clicks=(1,), minutes=15)  # not on the x axis

    running = experiment_results().interleaving.running

    assert running.x == [1, 2, 3]
    assert running.value[:2] == [0.0, 0.5] and running.value[2] == 0.5
    shares = [win_share(0, 1), win_share(1, 1)]
    assert running.low[:2] == pytest.approx([s.low for s in shares])
    assert running.p_value[:2] == pytest.approx([s.p_value for s in shares])
    assert running.settled_from is None


def test_running_curves_are_sampled_to_at_most_the_points_asked_keeping_both_ends():
    SearchImpression.objects.bulk_create(
        SearchImpression(
            impression_id=f"{i:032x}",
            visitor_id="v",
            query="q",
            arm=Arm.INTERLEAVED,
            skus="a\tb",
            teams="PB",
            shown_at=START + timedelta(seconds=i),
        )
        for i in range(450)
    )
    ResultClick.objects.bulk_create(  # personalized's result clicked in every list
        ResultClick(impression_id=f"{i:032x}", position=0, sku="a", clicked_at=START)
        for i in range(450)
    )

    running = experiment_results(points=50).interleaving.running

    assert len(running.x) <= 50
    assert running.x[0] == 1 and running.x[-1] == 450
    assert running.x == sorted(set(running.x))
    assert running.value[-1] == 1.0
    # all wins: the interval leaves 50% after a handful and never comes back
    assert running.settled_from == next(n for n in range(1, 451) if win_share(n, 0).low > 0.5)


def test_ab_arms_count_click_through_and_the_reciprocal_rank_of_the_first_click():
    impression_make(Arm.AB_PERSONALIZED, clicks=(2, 0), minutes=1)  # first click ranked 1st: 1
    impression_make(Arm.AB_PERSONALIZED, minutes=2)  # 0
    impression_make(Arm.AB_PERSONALIZED, clicks=(3,), minutes=3)  # 1/4
    impression_make(Arm.AB_PLAIN, clicks=(1,), minutes=4)  # 1/2
    impression_make(Arm.AB_PLAIN, clicks=(4, 3), minutes=5)  # 1/4
    impression_make(Arm.AB_PLAIN, minutes=6)  # 0
    impression_make(Arm.AB_PLAIN, minutes=7)  # 0

    ab = experiment_results().ab

    assert (ab.treatment.impressions, ab.treatment.clicked) == (3, 2)
    assert ab.treatment.ctr == pytest.approx(2 / 3)
    assert ab.treatment.mrr == pytest.approx(1.25 / 3)
    assert (ab.control.impressions, ab.control.clicked) == (4, 2)
    assert ab.control.mrr == pytest.approx(0.75 / 4)
    reference = stats.ttest_ind([1, 0, 0.25], [0.5, 0.25, 0, 0], equal_var=False)
    interval = reference.confidence_interval()
    assert ab.difference.difference == pytest.approx(1.25 / 3 - 0.75 / 4)
    assert ab.difference.p_value == pytest.approx(reference.pvalue)
    assert (ab.difference.low, ab.difference.high) == pytest.approx((interval.low, interval.high))
    # the running curve: over the 7 A/B impressions, defined once each arm has two with variance
    assert ab.running.x == list(range(1, 8))
    assert np.isnan(ab.running.value[:4]).all()
    assert ab.running.value[-1] == pytest.approx(ab.difference.difference)
    assert ab.running.p_value[-1] == pytest.approx(reference.pvalue)


def test_since_leaves_out_older_impressions_and_their_clicks():
    impression_make(Arm.INTERLEAVED, teams="PB", clicks=(1,), minutes=0)  # a loss, before
    impression_make(Arm.AB_PLAIN, clicks=(0,), minutes=5)  # before
    impression_make(Arm.INTERLEAVED, teams="PB", clicks=(0,), minutes=60)  # a win, after
    impression_make(Arm.AB_PERSONALIZED, clicks=(1,), minutes=61)

    everything = experiment_results()
    recent = experiment_results(since=START + timedelta(minutes=30))

    assert (everything.interleaving.win_share.wins, everything.interleaving.win_share.losses) == (
        1,
        1,
    )
    assert (recent.interleaving.win_share.wins, recent.interleaving.win_share.losses) == (1, 0)
    assert recent.impressions == 2 and recent.since == START + timedelta(minutes=30)
    assert recent.ab.control.impressions == 0 and recent.ab.treatment.mrr == 0.5


def test_top_queries_group_spellings_rank_by_impressions_and_credit_interleaving():
    for minutes, query in enumerate(["shoes", "Shoes ", "  SHOES", "socks", "socks", "cap", ""]):
        impression_make(Arm.PERSONALIZED, query=query, minutes=minutes)
    impression_make(Arm.INTERLEAVED, query="cap", teams="PB", clicks=(0,), minutes=10)
    impression_make(Arm.INTERLEAVED, query="cap", teams="PB", clicks=(1,), minutes=11)
    impression_make(Arm.INTERLEAVED, query="cap", teams="PB", clicks=(0,), minutes=12)

    rows = experiment_results(top=2).top_queries

    assert [(row.query, row.impressions) for row in rows] == [("cap", 4), ("shoes", 3)]
    cap = rows[0]
    assert (cap.clicked, cap.wins, cap.losses) == (3, 2, 1)
    assert cap.ctr == pytest.approx(0.75)
    assert [row.query for row in experiment_results().top_queries] == ["cap", "shoes", "socks"]


def test_results_are_empty_without_an_experiment_impression():
    impression_make(Arm.PERSONALIZED, clicks=(0,))
    impression_make(Arm.PLAIN)
    results = experiment_results()
    assert results.empty and results.impressions == 2
    assert results.interleaving.win_share.share is None
    assert results.ab.difference.difference is None
    assert results.interleaving.running.x == [] and results.ab.running.x == []
    impression_make(Arm.AB_PLAIN)
    assert not experiment_results().empty


def test_results_are_read_in_two_queries_however_many_impressions(django_assert_num_queries):
    for minutes in range(30):
        arm = [Arm.INTERLEAVED, Arm.AB_PERSONALIZED, Arm.AB_PLAIN][minutes % 3]
        impression_make(
            arm, teams="PBBP" if arm == Arm.INTERLEAVED else "", clicks=(1,), minutes=minutes
        )
    with django_assert_num_queries(2):
        experiment_results()
    with django_assert_num_queries(2):
        experiment_results(since=START)


def test_query_key_ignores_case_and_spacing():
    assert query_key("  Running   SHOES ") == "running shoes"


def test_since_parse_reads_iso_dates_and_times_in_the_current_time_zone(settings):
    settings.TIME_ZONE = "Europe/Paris"
    assert since_parse("2026-12-01") == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert since_parse("2026-12-01T09:30") == datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    assert since_parse("2026-12-01T09:30:00+00:00") == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    for wrong in ("yesterday", "2026-02-30", "", "12/01/2026"):
        with pytest.raises(ValueError):
            since_parse(wrong)


def test_interleaving_line_gives_two_decimals_or_n_a():
    reference = stats.binomtest(62, 100).proportion_ci(method="wilson")
    assert interleaving_line(win_share(62, 38, 5)) == (
        "interleaving: personalized 62, plain 38, ties 5; "
        f"win share 0.62 (95% CI {reference.low:.2f}-{reference.high:.2f})"
    )
    assert f"{reference.low:.2f}-{reference.high:.2f}" == "0.52-0.71"
    nothing = WinShare(0, 0, 3, None, None, None, None)
    assert interleaving_line(nothing) == (
        "interleaving: personalized 0, plain 0, ties 3; win share n/a (95% CI n/a)"
    )
    assert not math.isnan(win_share(1, 0).low)
