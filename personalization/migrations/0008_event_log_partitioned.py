"""On PostgreSQL, the event log becomes a table partitioned by month of `viewed_at` (see
personalization.partitions); on SQLite nothing changes.

The views already logged are copied into their months' partitions, in this migration's
transaction: on a log of millions of views, run it when the shop is quiet. The primary key and
the event id's unique index hold `viewed_at`, as a partitioned table requires; the indexes keep
their names, so later migrations find them."""

from datetime import UTC, datetime

from django.db import migrations

TABLE = "personalization_viewevent"
OLD = f"{TABLE}_unpartitioned"
DEFAULT = f"{TABLE}_default"
AHEAD = 2  # months created past the current one; beat keeps creating them from then on
INDEXES = [
    f"CREATE INDEX event_session_order ON {TABLE} (source, session_id, id)",
    f"CREATE INDEX event_sku ON {TABLE} (sku)",
    f"CREATE INDEX event_viewed_at ON {TABLE} (viewed_at)",
]


def month_next(day):
    return day.replace(year=day.year + day.month // 12, month=day.month % 12 + 1, day=1)


def log_rebuilt(schema_editor, create, *, key: str) -> None:
    """The log's rows moved into a table that `create(run, first_view)` makes in its place
    (`first_view`: the oldest view's time, or None), then its primary key `key` (the event
    id's unique index over the same columns but `id`), its indexes, and its sequence where it
    was. PostgreSQL only: SQLite's log stays as it is."""
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT min(viewed_at), max(id) FROM {TABLE}")
        first, last_id = cursor.fetchone()
    run(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    create(run, first)
    run(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
    run(f"DROP TABLE {OLD}")  # a partitioned one with its partitions
    run(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY ({key})")
    for index in INDEXES:
        run(index)
    unique = key.replace("id", "event_id", 1)
    run(f"CREATE UNIQUE INDEX event_id_once ON {TABLE} ({unique}) WHERE event_id IS NOT NULL")
    if last_id is not None:
        run(f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), {int(last_id)})")


def months_create(run, first) -> None:
    """The partitioned log: a partition per month from the oldest view's (or this one) to
    AHEAD months from now, and a default one for a view outside them."""
    run(
        f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING IDENTITY) "
        "PARTITION BY RANGE (viewed_at)"
    )
    run(f"CREATE TABLE {DEFAULT} PARTITION OF {TABLE} DEFAULT")
    now = datetime.now(UTC).date().replace(day=1)
    month = min(first.date().replace(day=1), now) if first is not None else now
    end = now
    for _ in range(AHEAD):
        end = month_next(end)
    while month <= end:
        after = month_next(month)
        run(
            f"CREATE TABLE {TABLE}_y{month.year:04d}m{month.month:02d} PARTITION OF {TABLE} "
            f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') "
            f"TO ('{after.isoformat()} 00:00:00+00')"
        )
        month = after


def table_create(run, first) -> None:
    run(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING IDENTITY)")


def forwards(apps, schema_editor):
    log_rebuilt(schema_editor, months_create, key="id, viewed_at")


def backwards(apps, schema_editor):
    log_rebuilt(schema_editor, table_create, key="id")


class Migration(migrations.Migration):
    dependencies = [("personalization", "0007_training_window")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
