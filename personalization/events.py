"""Writes to the view log: live product views (with the visitor's state they move), and
`sessions.txt` imports, exports and removals."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Product
from common.db import rows_insert
from common.progress import Progress

from .engine.sessions_file import CONTROL, LineProblem, sessions_file_parse
from .models import LIVE_SOURCE, ViewEvent, live_view_log
from .selectors import sessions_iterate
from .state import (
    UNAVAILABLE,
    ViewSent,
    Visitor,
    VisitorState,
    VisitorStateUnavailable,
    view_add_send,
)
from .view_limits import view_window, views_limit_take

SOURCE_MAX = ViewEvent._meta.get_field("source").max_length
UNDECODABLE = re.compile("[\ud800-\udfff]")
INSERT_BATCH = 20_000
EVENT_COLUMNS = ["source", "session_id", "sku", "viewed_at"]


@dataclass(frozen=True)
class ViewTracked:
    state: VisitorState  # the visitor's state with this view (empty, with a notice, on failure)
    notices: list[str]


def product_view_track(visitor: Visitor, sku: str, *, answer: bool = True) -> ViewTracked:
    """Record a product view: move the visitor's state and log the event, in one round trip
    where the store takes events (Redis with its stream, or the database). Whatever happens to
    the store, the event is logged: when the state cannot be written, it goes straight to the
    database and the page says personalization is unavailable. Without `answer`, the state
    after the view is not read back (an API call that does not show it). Raises ViewsLimited,
    nothing recorded, when the visitor or their address is over its flood limit."""
    tracking = product_view_send(visitor, sku, answer=answer)
    try:
        return tracking.tracked()
    finally:
        tracking.close()


def product_view_send(visitor: Visitor, sku: str, *, answer: bool = True) -> ViewTracking:
    """`product_view_track`, sent now and answered by `tracked()` of what it returns (then
    `close()` it): the round trip overlaps what the caller does in between."""
    viewed_at = timezone.now()
    # The view's id, in the stream and on a row written here: if Redis timed out but ran the
    # view after all, the drain finds the row and does not log the view twice.
    event_id = uuid.uuid4().hex
    sent = view_add_send(visitor, sku, viewed_at=viewed_at, event_id=event_id, answer=answer)
    return ViewTracking(visitor, sku, viewed_at, event_id, sent)


@dataclass
class ViewTracking:
    """A product view sent to the visitor store (see product_view_send)."""

    visitor: Visitor
    sku: str
    viewed_at: datetime
    event_id: str
    sent: ViewSent

    def tracked(self) -> ViewTracked:
        """The view's outcome (its event logged whatever the store answered); raises
        ViewsLimited, nothing recorded."""
        visitor = self.visitor
        try:
            recorded = self.sent.recorded()
        except VisitorStateUnavailable:
            views_limit_take(view_window(visitor.id, visitor.address), local=True)
            live_view_log(visitor.id, self.sku, self.viewed_at, self.event_id)
            return ViewTracked(VisitorState(notices=(UNAVAILABLE,)), [UNAVAILABLE])
        if not recorded.logged:
            live_view_log(visitor.id, self.sku, self.viewed_at, self.event_id)
        return ViewTracked(recorded.state, [])

    def close(self) -> None:
        self.sent.close()


class SessionImportError(Exception):
    """The file cannot be imported; nothing was written."""


@dataclass
class SessionImportReport:
    path: Path
    source: str
    sessions: int = 0
    events: int = 0
    replaced_events: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)
    unknown_skus: list[tuple[int, str]] = field(default_factory=list)
    sessions_emptied: list[int] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Every problem as `file, line N: what`, in line order."""
        found = [(line, what) for line, what in self.malformed]
        found += [(line, f"unknown sku {sku!r}") for line, sku in self.unknown_skus]
        found += [
            (line, "no SKU left once unknown SKUs were removed; session skipped")
            for line in self.sessions_emptied
        ]
        return [f"{self.path}, line {line}: {what}" for line, what in sorted(found)]


def sessions_import(
    path: Path,
    *,
    source: str | None = None,
    strict: bool = False,
    allow_unknown_skus: bool = False,
    progress: Progress | None = None,
) -> SessionImportReport:
    """Import `sessions.txt` as the source `source` (default: the file's name).

    Importing a source again replaces it. Bad lines and unknown SKUs are skipped and reported,
    or with `strict` fail the whole import. All-or-nothing either way: one transaction.
    """
    path = Path(path)
    source = source or path.name
    if source == LIVE_SOURCE:
        raise SessionImportError(f"the source label {LIVE_SOURCE!r} is reserved for live views")
    if len(source) > SOURCE_MAX:
        raise SessionImportError(f"the source label is longer than {SOURCE_MAX} characters")
    if CONTROL.search(source):
        raise SessionImportError(f"the source label {source!r} contains a control character")
    if UNDECODABLE.search(source):  # bytes of a file name or argument that were not UTF-8
        raise SessionImportError(
            f"the source label {source!r} is not valid UTF-8; name one with --source"
        )
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise SessionImportError(f"{path}: cannot open file: {exc.strerror}") from exc
    report = SessionImportReport(path=path, source=source)
    known = None if allow_unknown_skus else set(Product.objects.values_list("sku", flat=True))
    viewed_at = connection.ops.adapt_datetimefield_value(timezone.now())
    batch: list[tuple] = []
    with handle, transaction.atomic():
        report.replaced_events, _ = ViewEvent.objects.filter(source=source).delete()
        for parsed in sessions_file_parse(handle, progress=progress):
            if isinstance(parsed, LineProblem):
                report.malformed.append((parsed.line, parsed.problem))
                continue
            number, session_id, skus = parsed.line, parsed.session_id, parsed.skus
            if known is not None:
                kept = [sku for sku in skus if sku in known]
                if len(kept) != len(skus):
                    report.unknown_skus += [(number, sku) for sku in skus if sku not in known]
                    if not kept:
                        report.sessions_emptied.append(number)
                        continue
                skus = kept
            report.sessions += 1
            report.events += len(skus)
            batch += [(source, session_id, sku, viewed_at) for sku in skus]
            if len(batch) >= INSERT_BATCH:
                rows_insert(ViewEvent, EVENT_COLUMNS, batch)
                batch = []
        if strict and report.problems:
            shown = "\n".join(report.problems[:20])
            more = len(report.problems) - 20
            raise SessionImportError(
                f"{len(report.problems)} problem(s); --strict imports nothing:\n{shown}"
                + (f"\n... and {more} more" if more > 0 else "")
            )
        rows_insert(ViewEvent, EVENT_COLUMNS, batch)
    return report


def sessions_remove(source: str) -> int:
    """Delete every event of an imported source; returns how many were deleted."""
    if source == LIVE_SOURCE:
        raise SessionImportError(f"{LIVE_SOURCE!r} holds the live views; it is not an import")
    deleted, _ = ViewEvent.objects.filter(source=source).delete()
    return deleted


def sessions_export(path: Path, *, progress: Progress | None = None) -> tuple[int, int]:
    """Write every session (live and imported) to `path` in the `sessions.txt` format.

    Returns (sessions, events). Sessions come in the order they began.
    """
    sessions = events = 0
    path = Path(path)
    temporary = path.with_name(path.name + ".partial")
    with temporary.open("w", encoding="utf-8", newline="\n") as out:
        for session in sessions_iterate():
            out.write(session.session_id + "\t" + "\t".join(session.skus) + "\n")
            sessions += 1
            events += len(session.skus)
            if progress is not None:
                progress.update(1)
    temporary.replace(path)
    return sessions, events
