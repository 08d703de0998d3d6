"""The drain of live views under a real Celery worker that is killed (SIGKILL) mid-batch: the
views still reach the event log, and the search impressions and clicks among them their
tables, each exactly once."""

import os
import signal
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
import redis
from conftest import (
    celery_configured,
    celery_worker_start,
    celery_worker_stop,
    database_url_of_tests,
    eventually,
)
from redis.exceptions import ResponseError

from personalization.event_stream import GROUP
from personalization.models import ResultClick, SearchImpression, ViewEvent
from personalization.redis_keys import stream_keys

pytestmark = [pytest.mark.slow, pytest.mark.redis]

VIEWS = 60_000
EVERY_SEARCH = 10  # views between a search impression and its click in the stream
KILLS = 3


def pending(client: redis.Redis) -> int:
    try:
        return client.xpending(stream_keys()[0], GROUP)["pending"]
    except ResponseError:  # the group does not exist before the first drain
        return 0


def stopped_in_a_batch(worker, client: redis.Redis, written_before: int) -> bool:
    """Whether a batch is in flight: entries are pending and some were written after the drain
    began. Then the worker is stopped (SIGSTOP) there, holding its batch until it is killed."""
    if not (pending(client) and ViewEvent.objects.count() > written_before):
        return False
    os.kill(worker.pid, signal.SIGSTOP)
    eventually(lambda: stopped(worker.pid), what="the worker to stop", every=0.001)
    client.ping()  # what the worker sent before it stopped has reached Redis by now
    if pending(client):
        return True
    os.kill(worker.pid, signal.SIGCONT)  # acknowledged meanwhile: it was between batches
    return False


def stopped(pid: int) -> bool:
    """Whether the process is stopped (SIGSTOP taken), as the kernel says."""
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state in ("T", "t")


def log_end(log: Path) -> str:
    return log.read_text()[-3000:]


def test_a_drainer_killed_mid_batch_loses_nothing_and_writes_nothing_twice(
    transactional_db, redis_url, celery_broker, tmp_path
):
    from personalization.tasks import events_drain_scheduled

    broker = celery_broker
    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline(transaction=False)
    for n in range(VIEWS):  # as the shop's views add them, in bulk
        pipe.xadd(stream_keys()[0], {"visitor": f"{n % 97:032d}", "sku": f"SKU-{n}"})
        if n % EVERY_SEARCH == 0:  # and, among them, searches and clicks on their results
            impression = {"type": "impression", "id": f"{n:032x}", "visitor": f"{n % 97:032d}"}
            impression |= {"skus": f"SKU-{n}", "query": "q", "page": 1, "arm": "interleaved"}
            pipe.xadd(stream_keys()[0], impression | {"teams": "P"})
            pipe.xadd(
                stream_keys()[0],
                {"type": "click", "impression": f"{n:032x}", "position": 0, "sku": f"SKU-{n}"},
            )
    pipe.execute()
    env = {
        "CELERY_BROKER_URL": broker,
        "REDIS_URL": redis_url,
        "CIS_EVENT_STREAM": "1",
        "CIS_EVENT_DRAIN_BATCH": "2000",
        "CIS_EVENT_CLAIM_SECONDS": "0",  # the next worker takes a dead one's entries at once
        "DATABASE_URL": database_url_of_tests(),
        "CIS_DATA_DIR": str(tmp_path / "worker-data"),
    }
    killed_mid_batch, at_kills = 0, []
    with celery_configured(broker_url=broker, task_always_eager=False):
        for kill in range(KILLS):
            log = tmp_path / f"worker-{kill}.log"
            worker = celery_worker_start(log, env)
            written_before = ViewEvent.objects.count()

            events_drain_scheduled.delay()
            eventually(
                partial(stopped_in_a_batch, worker, client, written_before),
                what="a drain batch in flight",
                process=worker,
                details=partial(log_end, log),
                every=0.002,
            )
            worker.kill()
            worker.wait()
            if pending(client):  # read by the dead worker, never acknowledged
                killed_mid_batch += 1
            at_kills.append((ViewEvent.objects.count(), pending(client)))
        assert 0 < ViewEvent.objects.count() < VIEWS  # the kills stopped the drains part way
        worker = celery_worker_start(tmp_path / "worker-last.log", env)
        try:
            events_drain_scheduled.delay()
            eventually(
                lambda: not (client.xlen(stream_keys()[0]) or pending(client)),
                what="the last drain to finish",
                process=worker,
                details=lambda: (tmp_path / "worker-last.log").read_text()[-3000:],
            )
        finally:
            celery_worker_stop(worker)
    print(
        f"\n{KILLS} workers killed while draining {VIEWS:,} views; (rows logged, entries "
        f"pending) at each kill: {at_kills}; after the last drain: {ViewEvent.objects.count():,}"
        f" rows, {ViewEvent.objects.values('event_id').distinct().count():,} event ids"
    )
    assert killed_mid_batch == KILLS  # each worker was stopped holding a batch, then killed
    rows = list(ViewEvent.objects.values_list("session_id", "sku", "event_id"))
    assert len(rows) == VIEWS
    assert len({event_id for _, _, event_id in rows}) == VIEWS
    expected = Counter((f"{n % 97:032d}", f"SKU-{n}") for n in range(VIEWS))
    assert Counter((visitor, sku) for visitor, sku, _ in rows) == expected
    searches = range(0, VIEWS, EVERY_SEARCH)
    assert sorted(SearchImpression.objects.values_list("impression_id", flat=True)) == [
        f"{n:032x}" for n in searches
    ]
    clicks = ResultClick.objects.values_list("impression_id", "sku")
    assert sorted(clicks) == [(f"{n:032x}", f"SKU-{n}") for n in searches]
    client.flushdb()
