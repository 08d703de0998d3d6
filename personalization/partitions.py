"""The event log by month, on PostgreSQL: `personalization_viewevent` is partitioned by range of
`viewed_at` (declarative partitioning, migration 0008), one partition a month plus a default one
for a view outside them all. Beat creates the coming months' partitions ahead
(CIS_EVENT_PARTITIONS_AHEAD), and `manage.py event_partitions --detach-before` takes old months
out of the log: a detached month is a plain table again, left to be archived or dropped, and no
training, export or page reads it. On SQLite the log is one table and all of this is a no-op.

Constraints a partitioned table imposes (PostgreSQL): its primary key and unique indexes hold the
partition key, so the table's key is (id, viewed_at) and a view's `event_id` is unique with its
time; ids still come from one identity sequence, and the drain still looks an event id up in every
month before it writes (personalization.event_stream), so a view is logged once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.conf import settings
from django.db import connection, transaction

TABLE = "personalization_viewevent"
DEFAULT = f"{TABLE}_default"


@dataclass(frozen=True)
class Partition:
    name: str
    start: date  # the month's first day (inclusive)
    end: date  # the next month's first day (exclusive)
    rows: int  # PostgreSQL's estimate, as of its last ANALYZE of the month


def partitioned() -> bool:
    """Whether the event log is partitioned (PostgreSQL, once migration 0008 ran)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [TABLE])
        return cursor.fetchone() is not None


def month_start(day: date) -> date:
    return date(day.year, day.month, 1)


def month_next(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def month_name(start: date) -> str:
    return f"{TABLE}_y{start.year:04d}m{start.month:02d}"


def event_partitions() -> list[Partition]:
    """The months the log holds, oldest first (not the default partition); [] on SQLite."""
    if not partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT child.relname, pg_get_expr(child.relpartbound, child.oid), child.reltuples
            FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            WHERE pg_inherits.inhparent = %s::regclass AND child.relname <> %s
            ORDER BY child.relname
            """,
            [TABLE, DEFAULT],
        )
        found = cursor.fetchall()
    months = []
    for name, _bound, rows in found:
        start = _month_of(name)
        if start is not None:
            months.append(Partition(name, start, month_next(start), max(int(rows), 0)))
    return months


def event_partitions_ahead(months: int | None = None, *, today: date | None = None) -> list[str]:
    """Create the partitions of this month and the next `months` (CIS_EVENT_PARTITIONS_AHEAD)
    that do not exist yet; their names. Views of a month the default partition took meanwhile
    (beat stopped for months) are moved into its new partition, in the same transaction."""
    if not partitioned():
        return []
    months = settings.CIS_EVENT_PARTITIONS_AHEAD if months is None else months
    start = month_start(today or datetime.now(UTC).date())
    wanted = [start]
    for _ in range(months):
        wanted.append(month_next(wanted[-1]))
    existing = {p.start for p in event_partitions()}
    created = []
    for month in wanted:
        if month not in existing:
            month_partition_create(month)
            created.append(month_name(month))
    return created


def month_partition_create(start: date) -> None:
    """The partition of the month that begins on `start`, and the views of that month out of
    the default partition into it (a partition cannot be made for rows the default holds)."""
    name, end = month_name(start), month_next(start)
    bounds = [f"{start.isoformat()} 00:00:00+00", f"{end.isoformat()} 00:00:00+00"]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {DEFAULT} WHERE viewed_at >= %s AND viewed_at < %s LIMIT 1", bounds
        )
        strays = cursor.fetchone() is not None
        if strays:
            cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {DEFAULT}")
        cursor.execute(
            f"CREATE TABLE {name} PARTITION OF {TABLE} "
            f"FOR VALUES FROM ('{bounds[0]}') TO ('{bounds[1]}')"
        )
        if strays:
            cursor.execute(
                f"WITH moved AS (DELETE FROM {DEFAULT} WHERE viewed_at >= %s AND viewed_at < %s "
                f"RETURNING *) INSERT INTO {TABLE} SELECT * FROM moved",
                bounds,
            )
            cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {DEFAULT} DEFAULT")


def event_partitions_detach(before: date) -> list[str]:
    """Take the months that end on or before `before` out of the log; their names. Each stays a
    table of its own (the same name) to archive or drop."""
    detached = []
    for partition in event_partitions():
        if partition.end <= before:
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {partition.name}")
            detached.append(partition.name)
    return detached


def _month_of(name: str) -> date | None:
    prefix = f"{TABLE}_y"
    if not name.startswith(prefix) or len(name) != len(prefix) + 7:
        return None
    year, month = name[len(prefix) : len(prefix) + 4], name[-2:]
    if not (year.isdigit() and month.isdigit() and 1 <= int(month) <= 12):
        return None
    return date(int(year), int(month), 1)
