"""Online comparison of two rankers from clicks: team-draft interleaving (Radlinski, Kurup and
Joachims, CIKM 2008) and an A/B split, with the statistics an experiments page reads.

Team draft: the two rankers pick in turns, like captains choosing teams, a coin deciding who
picks first in each round; each picks its highest-ranked result not picked yet. The shown list
remembers which team placed each result. A click counts for the team of its result; an
impression is a win for the ranker whose team got more clicks, a loss for the other, a tie
when both got as many (and at least one click). The win share W / (W + L) is 0.5 when the
rankers are equally good; the sign test asks how likely the split of W and L is if it were.

Plain Python and numpy (scipy for the binomial and t distributions): no Django.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

PERSONALIZED, PLAIN = "P", "B"  # the teams: the personalized ranker and the baseline (plain)
WIN, LOSS, TIE = "win", "loss", "tie"
Z95 = 1.959963984540054  # the standard normal's 97.5% point: a two-sided 95% interval


@dataclass(frozen=True)
class Interleaved:
    items: list[str]  # the list shown
    teams: str  # the team of each shown item, PERSONALIZED or PLAIN, one letter a position


def team_draft(
    personalized: Sequence[str], plain: Sequence[str], *, length: int, rng: random.Random
) -> Interleaved:
    """Interleave two rankings of (mostly) the same items into one of `length`: in each round
    a coin says which team picks first, then each picks its best item not yet shown (a team
    whose ranking is spent lets the other go on)."""
    shown: list[str] = []
    teams: list[str] = []
    taken: set[str] = set()
    rankings = {PERSONALIZED: list(personalized), PLAIN: list(plain)}
    cursor = {PERSONALIZED: 0, PLAIN: 0}

    def pick(team: str) -> bool:
        ranking = rankings[team]
        while cursor[team] < len(ranking) and ranking[cursor[team]] in taken:
            cursor[team] += 1
        if cursor[team] >= len(ranking):
            return False
        item = ranking[cursor[team]]
        taken.add(item)
        shown.append(item)
        teams.append(team)
        return True

    while len(shown) < length:
        first = PERSONALIZED if rng.random() < 0.5 else PLAIN
        second = PLAIN if first == PERSONALIZED else PERSONALIZED
        picked = pick(first)
        if len(shown) < length:
            picked = pick(second) or picked
        if not picked:
            break
    return Interleaved(shown, "".join(teams))


def credit(teams: str, clicked: Iterable[int]) -> str | None:
    """The personalized ranker's outcome in one interleaved impression whose results at the
    0-based positions `clicked` were clicked: WIN, LOSS, TIE, or None without a click."""
    positions = {position for position in clicked if 0 <= position < len(teams)}
    if not positions:
        return None
    personalized = sum(teams[position] == PERSONALIZED for position in positions)
    plain = len(positions) - personalized
    if personalized > plain:
        return WIN
    return LOSS if plain > personalized else TIE


@dataclass(frozen=True)
class WinShare:
    wins: int
    losses: int
    ties: int
    share: float | None  # W / (W + L); None before any decided impression
    low: float | None  # its 95% Wilson score interval
    high: float | None
    p_value: float | None  # two-sided sign test of W against L


def win_share(wins: int, losses: int, ties: int = 0) -> WinShare:
    shares, lows, highs, p_values = win_share_running(np.array([wins]), np.array([losses]))
    if wins + losses == 0:
        return WinShare(wins, losses, ties, None, None, None, None)
    return WinShare(
        wins, losses, ties, float(shares[0]), float(lows[0]), float(highs[0]), float(p_values[0])
    )


def win_share_running(
    wins: np.ndarray, losses: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The win share, its 95% Wilson interval and the sign test's two-sided p-value at each
    point of cumulative counts (arrays of equal length), computed at once: a running curve
    over thousands of impressions. NaN where nothing was decided yet."""
    wins = np.asarray(wins, dtype=float)
    decided = wins + np.asarray(losses, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = wins / decided
        z2 = Z95 * Z95
        centre = (share + z2 / (2 * decided)) / (1 + z2 / decided)
        half = (Z95 / (1 + z2 / decided)) * np.sqrt(
            share * (1 - share) / decided + z2 / (4 * decided * decided)
        )
    smaller = np.minimum(wins, decided - wins)
    p_value = np.minimum(1.0, 2 * stats.binom.cdf(smaller, decided, 0.5))
    nothing = decided == 0
    for values in (share, centre, half, p_value):
        values[nothing] = np.nan
    return share, centre - half, centre + half, p_value


@dataclass(frozen=True)
class ArmClicks:
    impressions: int
    clicked: int  # impressions with at least one click
    ctr: float | None  # clicked / impressions
    mrr: float | None  # the mean over impressions of 1 / the first click's rank (0: no click)


def arm_clicks(reciprocal_ranks: Sequence[float]) -> ArmClicks:
    """An A/B arm's figures from each of its impressions' reciprocal rank of the first click
    (0 for an impression without a click)."""
    values = np.asarray(reciprocal_ranks, dtype=float)
    count = len(values)
    clicked = int((values > 0).sum())
    if not count:
        return ArmClicks(0, 0, None, None)
    return ArmClicks(count, clicked, clicked / count, float(values.mean()))


@dataclass(frozen=True)
class ArmsDifference:
    difference: float | None  # treatment's MRR minus control's
    low: float | None  # its 95% interval (Welch)
    high: float | None
    p_value: float | None  # Welch's two-sided t-test


def arms_difference(treatment: Sequence[float], control: Sequence[float]) -> ArmsDifference:
    """The difference of two arms' mean reciprocal rank of clicks, with Welch's t-test."""
    treatment = np.asarray(treatment, dtype=float)
    control = np.asarray(control, dtype=float)
    gap = np.full(len(control), np.nan)
    result = arms_difference_running(
        np.concatenate([treatment, gap]), np.concatenate([np.full(len(treatment), np.nan), control])
    )
    if not len(result[0]):
        return ArmsDifference(None, None, None, None)
    return ArmsDifference(*(None if math.isnan(v[-1]) else float(v[-1]) for v in result))


def arms_difference_running(
    treatment: np.ndarray, control: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The difference of means, its 95% interval and Welch's p-value after each impression of
    the two arms taken together in the order given: `treatment` and `control` are each
    impression's reciprocal rank of its first click, NaN where the impression is the other
    arm's. NaN while either arm has fewer than two impressions or no variance."""
    treatment = np.asarray(treatment, dtype=float)
    control = np.asarray(control, dtype=float)
    columns = []
    for values in (treatment, control):
        present = ~np.isnan(values)
        filled = np.where(present, values, 0.0)
        count = np.cumsum(present)
        total = np.cumsum(filled)
        squares = np.cumsum(filled * filled)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = total / count
            variance = (squares - count * mean * mean) / (count - 1)
        variance[count < 2] = np.nan
        columns.append((count, mean, np.maximum(variance, 0.0)))
    (n1, m1, v1), (n2, m2, v2) = columns
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = v1 / n1, v2 / n2
        error = np.sqrt(a + b)
        t = (m1 - m2) / error
        freedom = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
        p_value = 2 * stats.t.sf(np.abs(t), freedom)
        half = stats.t.ppf(0.975, freedom) * error
    difference = m1 - m2
    undefined = ~(error > 0)
    for values in (difference, half, p_value):
        values[undefined] = np.nan
    return difference, difference - half, difference + half, p_value


def settled_from(significant: np.ndarray) -> int | None:
    """The 1-based count of impressions from which every later point is significant (an
    interval that excludes the null, a p-value under 0.05): how many the method needed, judged
    by where it stays, not by a first lucky crossing; None if it is not significant at the end."""
    significant = np.asarray(significant, dtype=bool)
    if not len(significant) or not significant[-1]:
        return None
    not_yet = np.flatnonzero(~significant)
    return int(not_yet[-1]) + 2 if len(not_yet) else 1
