"""Reads from the view log: sessions in order (for export and training), the most viewed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Window

from .models import ViewEvent


@dataclass(frozen=True)
class LoggedSession:
    source: str
    session_id: str
    skus: list[str]


def sessions_iterate(
    *, sources: list[str] | None = None, since: datetime | None = None
) -> Iterator[LoggedSession]:
    """Every logged session with its SKUs in view order, sessions in the order they began;
    `since`: only the views from then on (a session that began before keeps its later views).

    Streams from the database, so memory stays flat however long the log is; with `since`, the
    index on the views' time reads the window only.
    """
    events = ViewEvent.objects.all()
    if sources is not None:
        events = events.filter(source__in=sources)
    if since is not None:
        events = events.filter(viewed_at__gte=since)
    rows = (
        events.annotate(
            began=Window(Min("id"), partition_by=["source", "session_id"]),
        )
        .order_by("began", "id")
        .values_list("source", "session_id", "sku")
        .iterator(chunk_size=10_000)
    )
    current: tuple[str, str] | None = None
    skus: list[str] = []
    for source, session_id, sku in rows:
        if (source, session_id) != current:
            if current is not None:
                yield LoggedSession(current[0], current[1], skus)
            current, skus = (source, session_id), []
        skus.append(sku)
    if current is not None:
        yield LoggedSession(current[0], current[1], skus)


def skus_most_viewed(*, limit: int = 24) -> list[str]:
    """The SKUs with the most views in the log (live and imported)."""
    rows = (
        ViewEvent.objects.values("sku")
        .annotate(views=Count("id"))
        .order_by("-views", "sku")[:limit]
    )
    return [row["sku"] for row in rows]
