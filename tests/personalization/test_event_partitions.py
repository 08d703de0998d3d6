"""The event log by month on PostgreSQL (personalization.partitions, migration 0008), on a fresh
database of the local server whatever database the rest of the suite runs on: the migration of a
log that holds views, months created ahead (and a month the default partition took moved out),
old months detached, the way back to one table, and the beat task."""

import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
SERVER = os.environ.get("CIS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
TABLE = "personalization_viewevent"

pytestmark = pytest.mark.slow


def manage(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**env, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "storefront.settings"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def migrated(url: str, *target: str) -> None:
    done = manage(url, "migrate", *target, "-v", "0")
    assert done.returncode == 0, done.stderr


@pytest.fixture
def database():
    """A new database on the local PostgreSQL server, dropped after: its URL."""
    psycopg = pytest.importorskip("psycopg")
    name = f"cis_partitions_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(SERVER, autocommit=True, connect_timeout=5) as server:
            server.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        unavailable(f"no PostgreSQL server at {SERVER}: {exc}")
    url = SERVER.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with psycopg.connect(SERVER, autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sql(url: str, statement: str, *parameters) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(statement, parameters or None)
        return cursor.fetchall() if cursor.description else []


def where(url: str) -> dict[str, str]:
    """sku -> the partition its view is in."""
    return dict(sql(url, f"SELECT sku, tableoid::regclass::text FROM {TABLE}"))


def month_table(day: date) -> str:
    return f"{TABLE}_y{day.year:04d}m{day.month:02d}"


def test_the_migration_moves_a_logged_log_into_its_months(database):
    migrated(database, "personalization", "0007")
    now = datetime.now(UTC)
    sql(
        database,
        f"INSERT INTO {TABLE} (source, session_id, sku, viewed_at, event_id) VALUES "
        "('live', 's1', 'OLD', %s, 'e1'), ('live', 's1', 'NOW', %s, 'e2'), "
        "('sample', 's2', 'IMPORTED', %s, NULL)",
        now - timedelta(days=70),
        now,
        now,
    )
    ids = dict(sql(database, f"SELECT sku, id FROM {TABLE}"))
    migrated(database)
    assert where(database) == {
        "OLD": month_table((now - timedelta(days=70)).date()),
        "NOW": month_table(now.date()),
        "IMPORTED": month_table(now.date()),
    }
    assert dict(sql(database, f"SELECT sku, id FROM {TABLE}")) == ids  # ids kept
    listed = manage(database, "event_partitions")
    assert listed.returncode == 0, listed.stderr
    months = [line.split()[0] for line in listed.stdout.splitlines()]
    first = (now - timedelta(days=70)).date().replace(day=1)
    assert months[0] == f"{first:%Y-%m}" and len(months) >= 5  # to two months ahead
    # The next view takes the next id, and a view's id is logged once.
    added = manage(
        database,
        "shell",
        "-v",
        "0",
        "-c",
        "from django.db import IntegrityError\n"
        "from django.utils import timezone\n"
        "from personalization.models import ViewEvent, live_view_log\n"
        "at = timezone.now()\n"
        "print(live_view_log('v', 'NEW', at, 'e3').id)\n"
        "try:\n"
        "    ViewEvent.objects.create(session_id='v', sku='NEW', viewed_at=at, event_id='e3')\n"
        "except IntegrityError:\n"
        "    print('refused')\n",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.split() == [str(max(ids.values()) + 1), "refused"]


def test_months_are_made_ahead_and_a_month_the_default_took_is_moved_out(database):
    migrated(database)
    far = (datetime.now(UTC) + timedelta(days=130)).replace(day=15)  # past the months made
    sql(
        database,
        f"INSERT INTO {TABLE} (source, session_id, sku, viewed_at) VALUES ('live', 's', 'F', %s)",
        far,
    )
    assert where(database) == {"F": f"{TABLE}_default"}
    made = manage(database, "event_partitions", "--ahead", "5")
    assert made.returncode == 0, made.stderr
    assert f"created {month_table(far.date())}" in made.stdout
    assert where(database) == {"F": month_table(far.date())}
    again = manage(database, "event_partitions", "--ahead", "5")
    assert "created" not in again.stdout  # nothing twice


def test_old_months_are_detached_and_left_as_tables_of_their_own(database):
    migrated(database, "personalization", "0007")
    old = datetime.now(UTC) - timedelta(days=100)
    sql(
        database,
        f"INSERT INTO {TABLE} (source, session_id, sku, viewed_at) VALUES "
        "('live', 's', 'OLD', %s), ('live', 's', 'NOW', now())",
        old,
    )
    migrated(database)
    this_month = datetime.now(UTC).date().replace(day=1)
    detached = manage(database, "event_partitions", "--detach-before", f"{this_month:%Y-%m}")
    assert detached.returncode == 0, detached.stderr
    assert f"detached {month_table(old.date())}" in detached.stdout
    assert sql(database, f"SELECT sku FROM {TABLE}") == [("NOW",)]  # out of the log
    assert sql(database, f"SELECT sku FROM {month_table(old.date())}") == [("OLD",)]  # kept
    wrong = manage(database, "event_partitions", "--detach-before", "last spring")
    assert wrong.returncode != 0 and "a month as YYYY-MM" in wrong.stderr


def test_migrating_back_gives_one_table_with_every_view(database):
    migrated(database)
    sql(
        database,
        f"INSERT INTO {TABLE} (source, session_id, sku, viewed_at, event_id) VALUES "
        "('live', 's', 'A', now() - interval '40 days', 'e1'), ('live', 's', 'B', now(), 'e2')",
    )
    migrated(database, "personalization", "0007")
    assert where(database) == {"A": TABLE, "B": TABLE}
    refused = manage(database, "event_partitions")
    assert refused.returncode != 0 and "keeps it in one table" in refused.stderr


def test_beat_makes_the_months_ahead_on_postgresql_only(database, tmp_path):
    code = "from django.conf import settings; print(sorted(settings.CELERY_BEAT_SCHEDULE))"
    on_postgresql = manage(database, "shell", "-v", "0", "-c", code)
    on_sqlite = manage(f"sqlite:///{tmp_path / 'db.sqlite3'}", "shell", "-v", "0", "-c", code)
    assert "event-partitions-ahead" in on_postgresql.stdout, on_postgresql.stderr
    assert "event-partitions-ahead" not in on_sqlite.stdout, on_sqlite.stderr
