"""Whether the shop recorded a simulated run: its impressions and clicks, in the database the
shop writes to, once the stream's drainer has written them."""

from __future__ import annotations

import time
from collections.abc import Collection

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


def _count(model, field: str, ids: Collection[str]) -> int:
    ids = list(ids)
    return sum(
        model.objects.filter(**{f"{field}__in": ids[start : start + BATCH]}).count()
        for start in range(0, len(ids), BATCH)
    )
