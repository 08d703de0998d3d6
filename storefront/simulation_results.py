"""The shop's own credit for a simulated run: the interleaving line `experiment_report` ends
with, from the impressions and clicks the shop recorded for the run's impression ids (read
from the database the shop writes to, once the stream's drainer has written them)."""

from __future__ import annotations

import time
from collections.abc import Collection

from personalization.engine.interleaving import LOSS, TIE, WIN, credit, win_share
from personalization.models import ResultClick, SearchImpression

BATCH = 500  # ids per query: SQLite allows 999 parameters


def impressions_recorded(ids: Collection[str], *, clicks: int = 0, seconds: float = 30.0) -> int:
    """How many of the impressions `ids` are in the database once all of them and `clicks`
    clicks on them are (the stream's drainer writes them in batches), or once their count
    stops growing after `seconds` (a click the shop refused is never written)."""
    if not ids:
        return 0
    deadline = time.monotonic() + seconds
    last = None
    while True:
        found = (
            _count(SearchImpression, "impression_id", ids),
            _count(ResultClick, "impression_id", ids),
        )
        if found[0] == len(ids) and found[1] >= clicks:
            return found[0]
        if found == last and time.monotonic() > deadline:
            return found[0]
        last = found
        time.sleep(0.5)


def interleaving_line(ids: Collection[str]) -> str:
    """`interleaving: personalized W, plain L, ties T; win share P (95% CI LO-HI)` over the
    interleaved impressions among `ids` (two decimals; n/a before anything is decided)."""
    teams = {}
    ids = list(ids)
    for start in range(0, len(ids), BATCH):
        rows = SearchImpression.objects.filter(
            impression_id__in=ids[start : start + BATCH], arm=SearchImpression.Arm.INTERLEAVED
        ).exclude(teams="")
        teams.update(rows.values_list("impression_id", "teams"))
    clicked: dict[str, list[int]] = {}
    keys = list(teams)
    for start in range(0, len(keys), BATCH):
        for impression, position in ResultClick.objects.filter(
            impression_id__in=keys[start : start + BATCH]
        ).values_list("impression_id", "position"):
            clicked.setdefault(impression, []).append(position)
    outcomes = [credit(teams[key], positions) for key, positions in clicked.items()]
    share = win_share(outcomes.count(WIN), outcomes.count(LOSS), outcomes.count(TIE))
    head = f"interleaving: personalized {share.wins}, plain {share.losses}, ties {share.ties}"
    if share.share is None:
        return head + "; win share n/a"
    return head + f"; win share {share.share:.2f} (95% CI {share.low:.2f}-{share.high:.2f})"


def _count(model, field: str, ids: Collection[str]) -> int:
    ids = list(ids)
    return sum(
        model.objects.filter(**{f"{field}__in": ids[start : start + BATCH]}).count()
        for start in range(0, len(ids), BATCH)
    )
