"""A Redis killed (SIGKILL) while views pour in, and started again on its folder: with its
append-only file, every view the shop accepted reaches the event log; without it, the views
not yet drained are gone, which shows the count would see a loss.

Views go through the shop's own path (`product_view_track`: the state script's XADD to the
stream, the database when Redis cannot take one) and the drain (`events_drain`). The Redis runs
with appendfsync everysec, as `make serve` and docker-compose.yml run it. It writes each
command to the file before it answers, so a killed process loses nothing it answered; only a
disk slow enough to hold a background fsync for over a second makes it answer before writing
(up to 2 s), and that is a matter of the machine, not of the process: the folder is in memory
(/dev/shm) where there is one, so a busy disk does not make the test flaky."""

import threading
from pathlib import Path

import pytest
import redis
from conftest import eventually
from factories import RedisOfItsOwn, redis_store_use

from personalization.event_stream import events_drain
from personalization.events import product_view_track
from personalization.models import ViewEvent
from personalization.state import Visitor

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

MEMORY = Path("/dev/shm")
BEFORE_KILL = 300  # views accepted before the kill, half of them drained
AFTER_KILL = 50  # views recorded while Redis is dead (straight to the database)


@pytest.fixture(params=[True, False], ids=["appendonly", "no-persistence"])
def crashing_redis(request, settings):
    server = RedisOfItsOwn(appendonly=request.param, folder=MEMORY if MEMORY.is_dir() else None)
    redis.Redis.from_url(server.url).config_set("save", "")  # no snapshots: the file or nothing
    redis_store_use(settings, server.url, stream=True)
    settings.CIS_REDIS_RETRY_SECONDS = 0  # back to Redis as soon as it answers again
    # The views go on until Redis is dead, however long the kill takes on a busy machine: no
    # flood limit may stop them first (each visitor's would, at 120 a minute).
    settings.CIS_VIEWS_PER_MINUTE_VISITOR = settings.CIS_VIEWS_PER_MINUTE_ADDRESS = 10**9
    yield server, request.param
    server.stop()


def test_views_accepted_before_a_redis_crash_reach_the_log_only_with_its_append_only_file(
    crashing_redis,
):
    server, appendonly = crashing_redis
    accepted: list[str] = []  # skus of the views product_view_track returned for, in order
    killed = threading.Event()

    def kill_mid_load():
        eventually(lambda: len(accepted) >= BEFORE_KILL, what=f"{BEFORE_KILL} views")
        server.kill()  # SIGKILL, and waits for the process to end
        killed.set()

    visitors = [Visitor() for _ in range(7)]
    killer = threading.Thread(target=kill_mid_load)
    killer.start()
    try:
        n = 0
        after_kill = 0
        while after_kill < AFTER_KILL:
            product_view_track(visitors[n % len(visitors)], f"SKU-{n}", answer=False)
            accepted.append(f"SKU-{n}")
            n += 1
            if n == BEFORE_KILL // 2:
                events_drain()  # the drainer's turn: these are in the log before the crash
            if killed.is_set():
                after_kill += 1
            elif not killer.is_alive():
                pytest.fail("the thread that kills Redis ended without killing it")
    finally:
        killer.join()
    drained_before = BEFORE_KILL // 2

    server.start()  # on the same folder: with appendonly, Redis loads its file first
    events_drain()

    logged = list(ViewEvent.objects.values_list("sku", flat=True))
    assert len(logged) == len(set(logged))  # nothing written twice
    lost = [sku for sku in accepted if sku not in set(logged)]
    assert not set(logged) - set(accepted)
    if appendonly:
        assert lost == [], f"{len(lost)} of {len(accepted)} accepted views lost"
    else:
        # What the stream held at the kill: every view accepted after the drain and before
        # Redis died; those recorded after went to the database.
        assert lost, "the control lost nothing: the test could not see a loss"
        assert all(int(sku.split("-")[1]) >= drained_before for sku in lost)
        assert len(lost) <= len(accepted) - drained_before - AFTER_KILL + 1
    print(f"appendonly={appendonly}: {len(lost)} of {len(accepted)} accepted views lost")  # -s
