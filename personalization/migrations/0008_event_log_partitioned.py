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
    f"CREATE UNIQUE INDEX event_id_once ON {TABLE} (event_id, viewed_at) "
    "WHERE event_id IS NOT NULL",
]


def month_next(day):
    return day.replace(year=day.year + day.month // 12, month=day.month % 12 + 1, day=1)


def partition(schema_editor, apps=None):
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT min(viewed_at), max(id) FROM {TABLE}")
        first, last_id = cursor.fetchone()
    run(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
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
    run(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
    run(f"DROP TABLE {OLD}")
    run(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, viewed_at)")
    for index in INDEXES:
        run(index)
    if last_id is not None:
        run(f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), {int(last_id)})")


def unpartition(schema_editor, apps=None):
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT max(id) FROM {TABLE}")
        (last_id,) = cursor.fetchone()
    run(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    run(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING IDENTITY)")
    run(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
    run(f"DROP TABLE {OLD} CASCADE")  # its partitions with it
    run(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
    for index in INDEXES[:-1]:
        run(index)
    run(f"CREATE UNIQUE INDEX event_id_once ON {TABLE} (event_id) WHERE event_id IS NOT NULL")
    if last_id is not None:
        run(f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), {int(last_id)})")


def forwards(apps, schema_editor):
    partition(schema_editor)


def backwards(apps, schema_editor):
    unpartition(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("personalization", "0007_training_window")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
