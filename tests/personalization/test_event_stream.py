"""personalization.event_stream: live views through a Redis Stream into the event log, with
nothing lost and nothing written twice, on the real Redis."""

import time
from datetime import UTC, datetime

import pytest
import redis
from django.core.management import CommandError, call_command
from django.utils import timezone
from factories import redis_store_use

from personalization.event_stream import GROUP, events_backlog, events_drain
from personalization.models import LIVE_SOURCE, ViewEvent
from personalization.redis_keys import stream_keys
from personalization.state import Visitor, view_add

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture
def stream(settings, redis_url):
    redis_store_use(settings, redis_url, stream=True)
    return redis.Redis.from_url(redis_url)


def views_add(count: int, *, visitors: int = 3) -> list[tuple[str, str]]:
    """`count` views through the shop's own path, spread over `visitors`; (visitor id, sku)."""
    who = [Visitor() for _ in range(visitors)]
    added = []
    for n in range(count):
        visitor, sku = who[n % visitors], f"SKU-{n}"
        view_add(visitor, sku, viewed_at=timezone.now())
        added.append((visitor.id, sku))
    return added


def logged() -> list[tuple[str, str]]:
    return list(ViewEvent.objects.order_by("id").values_list("session_id", "sku"))


def test_a_drain_moves_every_view_into_the_log_in_order_and_empties_the_stream(stream):
    added = views_add(7)
    assert not ViewEvent.objects.exists()
    report = events_drain(batch=3)
    assert logged() == added
    assert (report.read, report.written, report.batches) == (7, 7, 3)
    assert stream.xlen(stream_keys()[0]) == 0
    event = ViewEvent.objects.first()
    assert event.source == LIVE_SOURCE and event.event_id
    assert abs((timezone.now() - event.viewed_at).total_seconds()) < 60  # Redis's clock
    assert events_drain().read == 0  # nothing left


def test_the_time_of_a_view_is_the_time_redis_received_it(stream):
    stream.xadd(stream_keys()[0], {"visitor": "v" * 32, "sku": "A"}, id="1700000000123-0")
    events_drain()
    assert ViewEvent.objects.get().viewed_at == datetime(2023, 11, 14, 22, 13, 20, 123000, UTC)


def test_a_batch_committed_but_not_acknowledged_is_not_written_twice(stream, settings):
    """A drainer that died between its commit and its XACK: the next one takes its entries
    over and finds them logged already."""
    added = views_add(5)
    events_drain()  # creates the group
    more = views_add(4)
    dead = stream.xreadgroup(GROUP, "dead-drainer", {stream_keys()[0]: ">"}, count=10)[0][1]
    from personalization.event_stream import DrainReport, _batch_store

    _batch_store(dead, DrainReport())  # committed; then the process died before XACK
    assert stream.xpending(stream_keys()[0], GROUP)["pending"] == 4
    settings.CIS_EVENT_CLAIM_SECONDS = 0
    report = events_drain()
    assert report.claimed == 4 and report.already_logged == 4 and report.written == 0
    assert logged() == added + more
    assert (
        stream.xpending(stream_keys()[0], GROUP)["pending"] == 0
        and stream.xlen(stream_keys()[0]) == 0
    )


def test_entries_read_by_a_drainer_that_died_before_its_commit_are_written_once(stream, settings):
    events_drain()
    added = views_add(6)
    stream.xreadgroup(GROUP, "dead-drainer", {stream_keys()[0]: ">"}, count=4)  # then it died
    settings.CIS_EVENT_CLAIM_SECONDS = 60
    report = events_drain()
    assert report.written == 2  # the others wait: their drainer may only be slow
    settings.CIS_EVENT_CLAIM_SECONDS = 0
    report = events_drain()
    assert report.claimed == 4 and report.written == 4
    assert sorted(logged()) == sorted(added) and len(logged()) == 6


def test_the_backlog_counts_what_waits_and_how_old_it_is(stream):
    assert events_backlog().waiting == 0 and events_backlog().oldest_seconds is None
    views_add(3)
    first_id = stream.xrange(stream_keys()[0], count=1)[0][0].decode()
    added_at = int(first_id.split("-")[0]) / 1000  # Redis's time of the oldest entry
    before = time.time()
    backlog = events_backlog()
    after = time.time()
    assert backlog.waiting == 3 and backlog.pending == 0
    assert before - added_at <= backlog.oldest_seconds <= after - added_at  # its age, then
    events_drain()
    assert events_backlog().waiting == 0


def test_the_stream_is_capped(stream, settings):
    settings.CIS_EVENT_STREAM_MAX = 100
    settings.CIS_VIEWS_PER_MINUTE_VISITOR = 0  # a thousand views from one visitor: no limit
    views_add(1_000, visitors=1)
    assert 100 <= stream.xlen(stream_keys()[0]) < 1_000  # trimmed, by whole nodes ("~")


def test_the_drain_command_reports_what_it_wrote(stream, capsys):
    views_add(4)
    call_command("drain_events")
    out = capsys.readouterr().out
    assert "4 views written to the event log" in out and "the stream held 4" in out
    assert len(logged()) == 4


def test_the_drain_command_says_when_there_is_no_stream(settings):
    settings.CIS_EVENT_STREAM = False
    with pytest.raises(CommandError, match="no stream to drain"):
        call_command("drain_events")


def test_a_view_redis_ran_after_timing_out_is_not_logged_twice(stream, settings):
    """Redis timed out, so the shop wrote the view to the log itself; Redis then ran the view
    all the same: the drain finds the view's id in the log."""
    from personalization.models import live_view_log

    visitor = Visitor()
    view_add(visitor, "A", viewed_at=timezone.now(), event_id="f" * 32)
    live_view_log(visitor.id, "A", timezone.now(), "f" * 32)  # the shop's own write
    report = events_drain()
    assert report.already_logged == 1 and report.written == 0
    assert logged() == [(visitor.id, "A")]


def test_the_drain_task_with_redis_down_warns_once_and_raises_nothing(
    settings, caplog, monkeypatch
):
    import logging

    from factories import REDIS_DOWN_URL

    from personalization import tasks
    from personalization.tasks import events_drain_scheduled

    monkeypatch.setattr(tasks, "_drain_failing", False)
    redis_store_use(settings, REDIS_DOWN_URL, stream=True)
    caplog.set_level(logging.WARNING, logger="personalization.tasks")
    for _ in range(3):
        assert events_drain_scheduled()["written"] == 0
    warned = [r for r in caplog.records if r.name == "personalization.tasks"]
    assert len(warned) == 1 and "cannot be drained" in warned[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)


class _Stop(Exception):
    """Ends a `drain_events --follow` loop in a test."""


def test_the_following_drainer_outlives_a_database_failure_and_loses_nothing(
    stream, settings, monkeypatch, capsys
):
    from django.db import OperationalError

    from personalization import event_stream
    from personalization.management.commands import drain_events

    settings.CIS_EVENT_CLAIM_SECONDS = 0  # what the failed pass left pending is taken over
    added = views_add(3)
    store, failures = event_stream._batch_store, ["database is locked"]

    def store_failing_once(entries, report):
        if failures:
            raise OperationalError(failures.pop())
        store(entries, report)

    passes = []

    def wait(seconds):  # the loop's pause between passes: stop after the second
        passes.append(seconds)
        if len(passes) == 2:
            raise _Stop

    monkeypatch.setattr(event_stream, "_batch_store", store_failing_once)
    monkeypatch.setattr(drain_events.time, "sleep", wait)
    with pytest.raises(_Stop):
        call_command("drain_events", follow=True)
    assert "The database failed (database is locked)" in capsys.readouterr().err
    assert sorted(logged()) == sorted(added)  # written by the pass after the failure


def test_the_drain_command_once_names_a_database_failure(stream, monkeypatch):
    from django.db import OperationalError

    from personalization import event_stream

    def store_failing(entries, report):
        raise OperationalError("database is locked")

    views_add(1)
    monkeypatch.setattr(event_stream, "_batch_store", store_failing)
    with pytest.raises(CommandError, match="the database failed: database is locked"):
        call_command("drain_events")


def test_a_view_no_replica_confirmed_is_logged_by_the_shop_too_and_drained_once(stream, settings):
    """CIS_REDIS_WAIT_REPLICAS on a Redis without replicas: the view is served from the state,
    written to the event log by the shop as well, and the stream's copy is skipped by the drain.
    That Redis is then not waited for until CIS_REDIS_RETRY_SECONDS have passed."""
    from personalization.events import product_view_track
    from personalization.state import visitor_store

    settings.CIS_REDIS_WAIT_REPLICAS = 1
    visitor = Visitor()
    first = product_view_track(visitor, "A")
    assert first.state.skus == ("A",) and not first.notices
    assert logged() == [(visitor.id, "A")]  # written by the shop: no replica confirmed it
    store = visitor_store()
    assert store.replicas_lacking(store.pool_for(stream_keys()[0]))
    assert product_view_track(visitor, "B").state.skus == ("A", "B")  # not waited for
    report = events_drain()
    assert (report.read, report.already_logged, report.written) == (2, 2, 0)
    assert logged() == [(visitor.id, "A"), (visitor.id, "B")]


def test_without_replicas_waited_for_the_stream_alone_logs_a_view(stream, settings):
    from personalization.events import product_view_track

    settings.CIS_REDIS_WAIT_REPLICAS = 0
    product_view_track(Visitor(), "A")
    assert not ViewEvent.objects.exists()
    assert events_drain().written == 1
