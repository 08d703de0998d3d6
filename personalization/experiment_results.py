"""The experiments' results, read from the recorded impressions and clicks: team-draft
interleaving's wins and losses, the A/B arms' click-through and MRR of clicks, how both ran
over the impressions, and the top queries. Read by the admin's experiments page and
`manage.py experiment_report`."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db.models import Subquery
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .engine.interleaving import (
    LOSS,
    TIE,
    WIN,
    ArmClicks,
    ArmsDifference,
    WinShare,
    arm_clicks,
    arms_difference_running,
    credit,
    settled_from,
    win_share,
    win_share_running,
)
from .models import ResultClick, SearchImpression

Arm = SearchImpression.Arm
CHART_POINTS = 200  # a running curve is sampled to at most this many points
TOP_QUERIES = 10
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Running:
    """A statistic after each of the first `x` impressions (sampled for a chart): its value,
    95% interval and p-value, NaN where it is not defined yet."""

    x: list[int]
    value: list[float]
    low: list[float]
    high: list[float]
    p_value: list[float]
    settled_from: int | None  # the count of impressions from which it stayed significant


@dataclass(frozen=True)
class InterleavingResults:
    impressions: int  # interleaved lists shown
    differing: int  # of them, those whose two orders differed on the page (creditable)
    clicked: int  # interleaved lists with at least one click
    win_share: WinShare  # the personalized ranker's wins, losses, ties and share
    running: Running  # the win share over the lists whose orders differed


@dataclass(frozen=True)
class ABResults:
    treatment: ArmClicks  # the personalized arm
    control: ArmClicks  # the plain arm
    difference: ArmsDifference  # personalized MRR of clicks minus plain's (Welch)
    running: Running  # that difference over the A/B impressions of both arms


@dataclass(frozen=True)
class QueryRow:
    query: str
    impressions: int
    clicked: int
    ctr: float | None
    wins: int  # interleaved impressions of this query won by personalized
    losses: int


@dataclass(frozen=True)
class ExperimentResults:
    since: datetime | None
    impressions: int  # every recorded search page, in or out of an experiment
    interleaving: InterleavingResults
    ab: ABResults
    top_queries: list[QueryRow]

    @property
    def empty(self) -> bool:
        """No impression in either experiment yet."""
        arms = (self.interleaving, self.ab.treatment, self.ab.control)
        return not any(arm.impressions for arm in arms)


def experiment_results(
    *, since: datetime | None = None, top: int = TOP_QUERIES, points: int = CHART_POINTS
) -> ExperimentResults:
    """Both experiments' figures from the impressions shown at or after `since` (all without
    it) and their clicks, in two streamed queries: fast enough for the admin at 100k
    impressions. A click whose impression is unknown (or older than `since`) is ignored."""
    impressions = SearchImpression.objects.all()
    if since is not None:
        impressions = impressions.filter(shown_at__gte=since)
    clicks = ResultClick.objects.values_list("impression_id", "position")
    if since is not None:
        clicks = clicks.filter(impression_id__in=Subquery(impressions.values("impression_id")))
    clicked: dict[str, list[int]] = defaultdict(list)
    for impression_id, position in clicks.iterator(chunk_size=10_000):
        clicked[impression_id].append(position)

    shown = 0
    interleaved = interleaved_clicked = 0
    outcomes: list[str | None] = []  # one per interleaved list whose orders differed, in order
    treatment: list[float] = []  # the A/B impressions' reciprocal ranks, NaN for the other arm
    control: list[float] = []
    queries: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # shown, clicked, W, L
    rows = impressions.order_by("shown_at", "id").values_list(
        "impression_id", "arm", "teams", "query"
    )
    for impression_id, arm, teams, query in rows.iterator(chunk_size=10_000):
        shown += 1
        positions = clicked.get(impression_id, ())
        figures = queries[query_key(query)]  # a blank query is left out below
        figures[0] += 1
        figures[1] += bool(positions)
        if arm == Arm.INTERLEAVED:
            interleaved += 1
            interleaved_clicked += bool(positions)
            if teams:
                outcome = credit(teams, positions)
                outcomes.append(outcome)
                figures[2] += outcome == WIN
                figures[3] += outcome == LOSS
        elif arm in (Arm.AB_PERSONALIZED, Arm.AB_PLAIN):
            rank = 1 / (min(positions) + 1) if positions else 0.0
            mine, other = (
                (treatment, control) if arm == Arm.AB_PERSONALIZED else (control, treatment)
            )
            mine.append(rank)
            other.append(math.nan)

    return ExperimentResults(
        since=since,
        impressions=shown,
        interleaving=_interleaving(interleaved, interleaved_clicked, outcomes, points=points),
        ab=_ab(np.array(treatment), np.array(control), points=points),
        top_queries=_top_queries(queries, top=top),
    )


def query_key(query: str) -> str:
    """A query as the top queries count it: "Shoes " and "shoes" are one."""
    return " ".join(query.split()).casefold()


def since_parse(text: str) -> datetime:
    """An ISO date (its midnight) or date and time, in the current time zone unless it names
    one. ValueError if it is neither."""
    text = text.strip()
    try:
        moment = parse_datetime(text)
        day = None if moment else parse_date(text)
    except ValueError:  # well formed but not a real date (2026-02-30)
        moment = day = None
    if moment is None and day is not None:
        moment = datetime(day.year, day.month, day.day)
    if moment is None:
        raise ValueError(f"{text!r} is not an ISO date or date and time (2026-12-01T09:30)")
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def interleaving_line(share: WinShare) -> str:
    """The one line both `experiment_report` and `simulate_shoppers` end with."""
    if share.share is None:
        figure = "n/a (95% CI n/a)"
    else:
        figure = f"{share.share:.2f} (95% CI {share.low:.2f}-{share.high:.2f})"
    return (
        f"interleaving: personalized {share.wins}, plain {share.losses}, ties {share.ties}; "
        f"win share {figure}"
    )


def experiment_report_lines(results: ExperimentResults) -> list[str]:
    """The results as a short plain-text table, ending with `interleaving_line`."""
    share, ab = results.interleaving.win_share, results.ab
    since = f" since {results.since.isoformat(timespec='minutes')}" if results.since else ""
    lines = [
        f"{results.impressions:,} search pages recorded{since}",
        f"{'':24}{'shown':>9}{'differed':>10}{'clicked':>9}{'W':>7}{'L':>7}{'T':>7}{'p':>8}",
        f"{'interleaving':24}{results.interleaving.impressions:>9,}"
        f"{results.interleaving.differing:>10,}{results.interleaving.clicked:>9,}"
        f"{share.wins:>7,}{share.losses:>7,}{share.ties:>7,}{_p(share.p_value):>8}",
        f"{'':24}{'shown':>9}{'clicked':>10}{'CTR':>9}{'MRR':>7}",
    ]
    for label, arm in (("A/B personalized", ab.treatment), ("A/B plain", ab.control)):
        ctr = "n/a" if arm.ctr is None else f"{100 * arm.ctr:.1f}%"
        lines.append(
            f"{label:24}{arm.impressions:>9,}{arm.clicked:>10,}{ctr:>9}{_decimal(arm.mrr, 3):>7}"
        )
    gap = ab.difference
    if gap.difference is not None:
        lines.append(
            f"A/B MRR difference {gap.difference:+.3f} (95% CI {gap.low:+.3f} to {gap.high:+.3f}), "
            f"Welch p {_p(gap.p_value)}"
        )
    if results.top_queries:
        lines.append(f"{'top queries':24}{'shown':>9}{'clicked':>10}{'CTR':>9}{'W':>7}{'L':>7}")
        for row in results.top_queries:
            query = row.query if len(row.query) <= 22 else row.query[:21] + "…"
            lines.append(
                f"  {query:22}{row.impressions:>9,}{row.clicked:>10,}"
                f"{100 * (row.ctr or 0):>8.1f}%{row.wins:>7,}{row.losses:>7,}"
            )
    return [*lines, interleaving_line(share)]


def _decimal(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _p(p_value: float | None) -> str:
    return "<0.001" if p_value is not None and p_value < 0.001 else _decimal(p_value, 3)


def _interleaving(
    impressions: int, clicked: int, outcomes: list[str | None], *, points: int
) -> InterleavingResults:
    won = np.array([outcome == WIN for outcome in outcomes], dtype=bool)
    lost = np.array([outcome == LOSS for outcome in outcomes], dtype=bool)
    wins, losses = np.cumsum(won), np.cumsum(lost)
    share, low, high, p_value = win_share_running(wins, losses)
    with np.errstate(invalid="ignore"):
        significant = (low > 0.5) | (high < 0.5)
    ties = sum(outcome == TIE for outcome in outcomes)
    return InterleavingResults(
        impressions=impressions,
        differing=len(outcomes),
        clicked=clicked,
        win_share=win_share(int(won.sum()), int(lost.sum()), ties),
        running=_sampled(share, low, high, p_value, settled_from(significant), points=points),
    )


def _ab(treatment: np.ndarray, control: np.ndarray, *, points: int) -> ABResults:
    difference, low, high, p_value = arms_difference_running(treatment, control)
    with np.errstate(invalid="ignore"):
        significant = p_value < SIGNIFICANCE
    last = ArmsDifference(None, None, None, None)
    if len(difference):
        last = ArmsDifference(
            *(None if math.isnan(v[-1]) else float(v[-1]) for v in (difference, low, high, p_value))
        )
    return ABResults(
        treatment=arm_clicks(treatment[~np.isnan(treatment)]),
        control=arm_clicks(control[~np.isnan(control)]),
        difference=last,
        running=_sampled(difference, low, high, p_value, settled_from(significant), points=points),
    )


def _sampled(
    value: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    p_value: np.ndarray,
    settled: int | None,
    *,
    points: int,
) -> Running:
    """At most `points` evenly spaced points of running curves, the last one always kept."""
    count = len(value)
    chosen = np.unique(np.linspace(0, count - 1, min(count, points)).round().astype(int))
    return Running(
        x=[int(i) + 1 for i in chosen],
        value=value[chosen].tolist(),
        low=low[chosen].tolist(),
        high=high[chosen].tolist(),
        p_value=p_value[chosen].tolist(),
        settled_from=settled,
    )


def _top_queries(queries: dict[str, list[int]], *, top: int) -> list[QueryRow]:
    named = (item for item in queries.items() if item[0])
    ranked = sorted(named, key=lambda item: (-item[1][0], item[0]))[:top]
    return [
        QueryRow(query, shown, clicked, clicked / shown, wins, losses)
        for query, (shown, clicked, wins, losses) in ranked
    ]
