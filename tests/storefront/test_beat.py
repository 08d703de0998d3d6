"""storefront.beat: Celery beat's scheduler on a real broker of the test's own (a redis-server
killed and started again), logging one warning when sending fails and one when it works
again, never a traceback."""

import logging

import pytest
from conftest import celery_configured
from factories import RedisOfItsOwn
from kombu.exceptions import OperationalError

from storefront.beat import QuietBrokerScheduler

pytestmark = pytest.mark.redis


@pytest.fixture
def broker(broker_clock):
    """A redis-server as beat's broker; kombu's waits between retries are skipped."""
    server = RedisOfItsOwn()
    try:
        with celery_configured(broker_url=server.url, task_always_eager=False) as app:
            yield server, app
    finally:
        server.stop()


def beat_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_beat_warns_once_when_the_broker_dies_and_once_when_it_is_back(broker, tmp_path, caplog):
    server, app = broker
    caplog.set_level(logging.INFO)
    scheduler = QuietBrokerScheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    entry = scheduler.schedule["fail-stale-trainings"]
    sent = redis_queue_length(server)

    scheduler.apply_entry(entry, producer=scheduler.producer)
    assert redis_queue_length(server) == sent + 1 and not beat_records(caplog)

    server.kill()
    for _ in range(3):
        scheduler.apply_entry(entry, producer=scheduler.producer)
    warned = beat_records(caplog)
    assert [(r.name, r.levelname) for r in warned] == [("storefront.beat", "WARNING")]
    assert "cannot send tasks to the broker" in warned[0].getMessage()

    server.start()
    scheduler.apply_entry(entry, producer=scheduler.producer)
    scheduler.apply_entry(entry, producer=scheduler.producer)
    warned = beat_records(caplog)
    assert [r.getMessage() for r in warned[1:]] == ["beat sends tasks to the broker again"]
    assert redis_queue_length(server) == 2  # an empty Redis (no persistence) got both
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    scheduler.close()


def test_beat_starting_on_a_dead_broker_warns_once_for_all_its_retries(
    broker, broker_clock, tmp_path, caplog
):
    server, app = broker
    server.kill()
    app.conf.broker_connection_max_retries = 4
    caplog.set_level(logging.INFO)
    scheduler = QuietBrokerScheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    with pytest.raises(OperationalError):
        _ = scheduler.producer
    assert broker_clock.slept > 0  # it did retry, four times
    warned = beat_records(caplog)
    assert [(r.name, r.levelname) for r in warned] == [("storefront.beat", "WARNING")]
    assert not [r for r in caplog.records if r.exc_info]
    app.conf.broker_connection_max_retries = None


def test_a_task_beat_cannot_encode_is_an_error_with_its_traceback(broker, tmp_path, caplog):
    """Not the broker's fault: logged as the error it is, and the broker is not said down."""
    _, app = broker
    caplog.set_level(logging.INFO)
    scheduler = QuietBrokerScheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    entry = scheduler.schedule["fail-stale-trainings"]
    entry.args = (object(),)  # JSON cannot carry it
    scheduler.apply_entry(entry, producer=scheduler.producer)
    (record,) = beat_records(caplog)
    assert record.levelname == "ERROR" and record.exc_info is not None
    assert not scheduler.broker_outage.failing
    scheduler.close()


def redis_queue_length(server) -> int:
    import redis

    client = redis.Redis.from_url(server.url.rsplit("/", 1)[0] + "/0")
    try:
        return client.llen("celery")
    finally:
        client.close()
