"""The streams of live views: with Redis, a view's event goes into the Redis Stream of the
visitor's shard, `cis:{cisN}:events` (personalization.redis_keys: one on one Redis, 16 on a
cluster), in the round trip that moves the visitor's state (see state.RedisVisitorStore), and
`events_drain` moves each stream into the event log in batches, through its own consumer
group. Search impressions and clicks on their results take the same streams (`type`
impression or click: see personalization.experiments) into their own tables, each row unique
by its own id, so a repeated batch writes none twice.

The drain reads through a consumer group, so an entry is acknowledged (and deleted) only once
its batch is committed: a drainer killed mid-batch leaves its entries pending, and the next
drain takes them over once they have been pending for CIS_EVENT_CLAIM_SECONDS. A batch that was
committed but not acknowledged is not written twice: each row keeps the id the shop gave the
view (`ViewEvent.event_id`, unique), and ids already in the log are skipped; so is a view that
the shop wrote to the log itself when Redis timed out, and that Redis then ran all the same.
Inserts are bulk (COPY on PostgreSQL). The streams are capped at about CIS_EVENT_STREAM_MAX
entries not yet drained in all (each shard's at its share), so a drainer that stays stopped
costs Redis bounded memory (the oldest views it did not drain are dropped past that); the
admin shows the backlog.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from redis.exceptions import ResponseError

from common.db import rows_insert

from .models import LIVE_SOURCE, ResultClick, SearchImpression, ViewEvent
from .redis_keys import stream_keys
from .state import redis_client

logger = logging.getLogger(__name__)

GROUP = "event-log"
COLUMNS = ["source", "session_id", "sku", "viewed_at", "event_id"]
CONSUMER_IDLE_FORGET_MS = 24 * 3600 * 1000  # drainers gone this long, with nothing pending


@dataclass
class DrainReport:
    batches: int = 0
    read: int = 0  # entries read (new and taken over)
    written: int = 0  # rows inserted into the event log
    already_logged: int = 0  # entries whose row a drain that died had committed
    claimed: int = 0  # entries taken over from a drainer that died
    impressions: int = 0  # search impressions read (written unless a dead drain had)
    clicks: int = 0  # clicks on results read (the same)
    seconds: float = 0.0


@dataclass(frozen=True)
class Backlog:
    waiting: int  # entries in the stream: not yet drained, or drained but not acknowledged
    pending: int  # of those, read by a drainer and not acknowledged yet
    oldest_seconds: float | None  # the age of the oldest entry waiting
    cap: int


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _group_ensure(client, stream: str) -> None:
    try:
        client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def events_drain(*, batch: int | None = None, max_batches: int | None = None) -> DrainReport:
    """Move the streams' entries into the event log, a batch at a time, a shard's stream after
    the other, until they are empty (or after `max_batches` in all): in each, first entries
    that a dead drainer left pending, then new ones."""
    batch = batch or settings.CIS_EVENT_DRAIN_BATCH
    client = redis_client()
    report = DrainReport()
    started = time.perf_counter()
    for stream in stream_keys():
        if max_batches is not None and report.batches >= max_batches:
            break
        left = None if max_batches is None else max_batches - report.batches
        _stream_drain(client, stream, batch=batch, max_batches=left, report=report)
    report.seconds = time.perf_counter() - started
    return report


def _stream_drain(client, stream: str, *, batch: int, max_batches: int | None, report) -> None:
    consumer = consumer_name()
    _group_ensure(client, stream)
    claim_after_ms = int(settings.CIS_EVENT_CLAIM_SECONDS * 1000)
    claim_from = "0-0"
    batches = 0
    while max_batches is None or batches < max_batches:
        entries: list = []
        if claim_from is not None:
            claimed = client.xautoclaim(
                stream, GROUP, consumer, claim_after_ms, start_id=claim_from, count=batch
            )
            next_from, entries = claimed[0], claimed[1]
            claim_from = None if next_from in (b"0-0", "0-0") else next_from
            if len(claimed) > 2 and claimed[2]:  # trimmed by the cap before they were drained
                client.xack(stream, GROUP, *claimed[2])
            entries = [entry for entry in entries if entry[1]]
            report.claimed += len(entries)
        if not entries:
            answer = client.xreadgroup(GROUP, consumer, {stream: ">"}, count=batch)
            entries = answer[0][1] if answer else []
        if not entries and claim_from is None:
            break
        if entries:
            _batch_store(entries, report)
            ids = [entry_id for entry_id, _ in entries]
            done = client.pipeline(transaction=True)  # both or neither, whenever it dies
            done.xack(stream, GROUP, *ids)
            done.xdel(stream, *ids)
            done.execute()
            batches += 1
            report.batches += 1
            report.read += len(entries)
    _consumers_forget(client, stream)


def _batch_store(entries: Sequence, report: DrainReport) -> None:
    """Insert the entries not in the database yet, in one transaction: views into the event
    log, search impressions and clicks on results into theirs (personalization.experiments)."""
    views, impressions, clicks = {}, [], []
    for entry_id, fields in entries:
        stream_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        kind = fields.get(b"type", b"view")
        text = {name.decode(): value.decode() for name, value in fields.items()}
        at = _entry_time(stream_id)
        if kind == b"impression":
            impressions.append(
                SearchImpression(
                    impression_id=text["id"], visitor_id=text["visitor"], query=text["query"],
                    page=int(text["page"]), arm=text["arm"], skus=text["skus"],
                    teams=text["teams"], shown_at=at,
                )
            )  # fmt: skip
        elif kind == b"click":
            clicks.append(
                ResultClick(
                    impression_id=text["impression"], position=int(text["position"]),
                    sku=text["sku"], clicked_at=at,
                )
            )  # fmt: skip
        else:
            event_id = text.get("id", stream_id)
            views[event_id] = (LIVE_SOURCE, text["visitor"], text["sku"], at, event_id)
    with transaction.atomic():
        _views_store(views, report)
        # Each is unique by its own id (an impression's, a click's impression and position):
        # one that a drain which died had written is skipped.
        SearchImpression.objects.bulk_create(impressions, ignore_conflicts=True)
        ResultClick.objects.bulk_create(clicks, ignore_conflicts=True)
    report.impressions += len(impressions)
    report.clicks += len(clicks)


def _views_store(rows: dict, report: DrainReport) -> None:
    logged = set(
        ViewEvent.objects.filter(event_id__in=list(rows)).values_list("event_id", flat=True)
    )
    new = [row for event_id, row in rows.items() if event_id not in logged]
    adapt = connection.ops.adapt_datetimefield_value
    try:
        with transaction.atomic():
            rows_insert(ViewEvent, COLUMNS, [(*row[:3], adapt(row[3]), row[4]) for row in new])
    except IntegrityError:  # another drainer took some over and wrote them meanwhile
        ViewEvent.objects.bulk_create(
            [ViewEvent(**dict(zip(COLUMNS, row, strict=True))) for row in new],
            ignore_conflicts=True,
        )
    report.written += len(new)
    report.already_logged += len(logged)


def _entry_time(stream_id: str) -> datetime:
    """When Redis received the entry: the milliseconds of its id."""
    return datetime.fromtimestamp(int(stream_id.split("-", 1)[0]) / 1000, tz=UTC)


def _consumers_forget(client, stream: str) -> None:
    """Drop the group's consumers that hold nothing and have not read for a day (drainers of
    processes long gone)."""
    for consumer in client.xinfo_consumers(stream, GROUP):
        if consumer["pending"] == 0 and consumer["idle"] > CONSUMER_IDLE_FORGET_MS:
            client.xgroup_delconsumer(stream, GROUP, consumer["name"])


def events_backlog() -> Backlog:
    """What waits in the streams (for the admin and the drain command); the cap is a shard's."""
    client = redis_client()
    waiting = pending = 0
    oldest = None
    for stream in stream_keys():
        waiting += client.xlen(stream)
        try:
            pending += client.xpending(stream, GROUP)["pending"]
        except ResponseError:  # no group yet: nothing was ever drained
            pass
        first = client.xrange(stream, count=1)
        if first:
            first_id = first[0][0].decode()
            age = max(0.0, time.time() - int(first_id.split("-", 1)[0]) / 1000)
            oldest = age if oldest is None else max(oldest, age)
    return Backlog(waiting, pending, oldest, settings.CIS_EVENT_STREAM_MAX)
