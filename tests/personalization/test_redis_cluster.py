"""The shop on a real Redis Cluster: three masters with a replica each (redis-server
--cluster-enabled yes, joined by redis-cli --cluster create), as a shop that outgrew one Redis
runs it. Visitors' keys and their shard's stream share a hash slot (personalization.redis_keys):
the state, the flood limits, the streams, their drain (a drainer killed mid-batch included),
the personalized search and a failover, a master killed while views pour in and its replica
promoted, with every view the shop accepted in the event log after it."""

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import database_url_of_tests, eventually
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone
from factories import RedisClusterOfItsOwn, products_view, redis_store_use
from redis.cluster import RedisCluster
from redis.crc import key_slot

from common.redis_cluster import cluster_clients_close, cluster_nodes, redis_cache
from personalization.event_stream import GROUP, events_backlog, events_drain
from personalization.events import product_view_send
from personalization.experiments import click_record, impression_record
from personalization.models import ResultClick, SearchImpression, ViewEvent
from personalization.redis_keys import (
    impression_key,
    shard_tags,
    stream_keys,
    visitor_key,
    visitor_stream_key,
)
from personalization.state import (
    COOKIE_NAME,
    UNAVAILABLE,
    Visitor,
    redis_client,
    view_add,
    visitor_state,
)
from personalization.view_limits import ViewsLimited, view_window

pytestmark = [pytest.mark.redis, pytest.mark.slow]

SHARDS = 16
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def redis_cluster():
    cluster = RedisClusterOfItsOwn()
    yield cluster
    cluster_clients_close()
    cluster.stop()


def cluster_use(settings, cluster: RedisClusterOfItsOwn, *, stream: bool = True) -> None:
    """The shop's visitors on `cluster`, as a redis-cluster:// REDIS_URL sets them."""
    redis_store_use(settings, cluster.url, stream=stream)
    settings.CIS_REDIS_SHARDS = SHARDS


@pytest.fixture
def on_cluster(settings, redis_cluster, db):
    redis_cluster.flush()
    cluster_use(settings, redis_cluster)
    return redis_cluster


def visitors_over_every_shard(each: int = 4) -> list[Visitor]:
    """`each` new visitors in every shard, shard after shard."""
    by_shard: dict[str, list[Visitor]] = {stream: [] for stream in stream_keys()}
    while any(len(visitors) < each for visitors in by_shard.values()):
        visitor = Visitor()
        visitor.identify()
        shard = by_shard[visitor_stream_key(visitor.id)]
        if len(shard) < each:
            shard.append(visitor)
    return [visitor for visitors in zip(*by_shard.values(), strict=True) for visitor in visitors]


def test_a_cluster_url_names_its_nodes_and_says_what_is_wrong_with_it():
    nodes, password = cluster_nodes("redis-cluster://:secret@10.0.0.1:7000,10.0.0.2:7001/")
    assert [(node.host, node.port) for node in nodes] == [("10.0.0.1", 7000), ("10.0.0.2", 7001)]
    assert password == "secret"
    with pytest.raises(ValueError, match="'10.0.0.1' is not host:port"):
        cluster_nodes("redis-cluster://10.0.0.1")
    with pytest.raises(ValueError, match="names no node"):
        cluster_nodes("redis-cluster://")


def test_the_keys_of_a_visitor_share_one_slot_and_the_shards_spread_over_the_slots(settings):
    settings.CIS_REDIS_SHARDS = SHARDS
    tags = shard_tags(SHARDS)
    slots = [key_slot(tag.encode()) for tag in tags]
    # The i-th shard's slot lies in the i-th sixteenth of the slots: even masters, even shards.
    assert [slot * SHARDS // 16384 for slot in slots] == list(range(SHARDS))
    visitor = Visitor()
    visitor.identify()
    window = view_window(visitor.id, "10.0.0.1", tag=tags[0], shards=SHARDS)
    keys = [
        visitor_key(visitor.id),
        visitor_stream_key(visitor.id),
        impression_key(visitor.id, "i"),
    ]
    tagged = view_window(visitor.id, "10.0.0.1", tag=keys[0].split(":")[1], shards=SHARDS)
    assert (
        len({key_slot(key.encode()) for key in [*keys, tagged.visitor_key, tagged.address_key]})
        == 1
    )
    # An address is counted per shard: its share of the limit, never less than a visitor's.
    assert window.address_limit == max(-(-1200 // SHARDS), settings.CIS_VIEWS_PER_MINUTE_VISITOR)


def test_the_cluster_holds_the_shards_evenly_and_the_shop_uses_a_cluster_client(on_cluster):
    client = redis_client()
    assert isinstance(client, RedisCluster)
    owners = Counter(client.get_node_from_key(stream).port for stream in stream_keys())
    assert sorted(owners) == on_cluster.masters()
    assert sorted(owners.values()) == [5, 5, 6]


def test_views_move_each_visitors_state_on_its_master_and_fill_every_shards_stream(on_cluster):
    visitors = visitors_over_every_shard()
    now = timezone.now()
    for n, visitor in enumerate(visitors):
        for sku in (f"A-{n}", f"B-{n}", f"A-{n}"):
            view_add(visitor, sku, viewed_at=now)
    for n, visitor in enumerate(visitors):
        assert visitor_state(visitor).skus == (f"A-{n}", f"B-{n}", f"A-{n}")
    client = redis_client()
    for visitor in visitors[:8]:  # the list is on the master the cluster says holds its slot
        master = client.get_node_from_key(visitor_key(visitor.id)).port
        assert on_cluster.node(master).exists(visitor_key(visitor.id))
    lengths = [client.xlen(stream) for stream in stream_keys()]
    assert all(lengths) and sum(lengths) == 3 * len(visitors)
    visitors[0].forget()
    assert visitor_state(visitors[0]).skus == ()


def test_the_flood_limits_count_on_the_cluster(on_cluster, settings):
    settings.CIS_VIEWS_PER_MINUTE_VISITOR = 3
    visitor = Visitor(address="10.0.0.9")
    for sku in "ABC":
        view_add(visitor, sku, viewed_at=timezone.now())
    with pytest.raises(ViewsLimited):
        view_add(visitor, "D", viewed_at=timezone.now())
    assert visitor_state(visitor).skus == ("A", "B", "C")


def test_impressions_and_clicks_go_through_the_visitors_shard(on_cluster):
    visitors = visitors_over_every_shard()
    impressions = [
        impression_record(visitor, query="shoes", page=1, arm="interleaved", skus=["A", "B"])
        for visitor in visitors
    ]
    for visitor, impression in zip(visitors, impressions, strict=True):
        visitor.writes_settle()
        assert click_record(visitor, impression_id=impression.id, position=1, sku="B")
    # Another visitor's click finds no impression of theirs (their shard holds none).
    from personalization.experiments import ClickRefused

    with pytest.raises(ClickRefused):
        click_record(visitors[1], impression_id=impressions[0].id, position=1, sku="B")
    report = events_drain()
    assert report.impressions == report.clicks == len(visitors)
    assert SearchImpression.objects.count() == ResultClick.objects.count() == len(visitors)


def test_the_drain_empties_every_shards_stream_into_the_log(on_cluster):
    visitors = visitors_over_every_shard()
    for n, visitor in enumerate(visitors):
        view_add(visitor, f"S-{n}", viewed_at=timezone.now())
    assert events_backlog().waiting == len(visitors)
    report = events_drain(batch=10)
    assert report.written == len(visitors) and report.batches >= SHARDS
    assert ViewEvent.objects.count() == len(visitors)
    backlog = events_backlog()
    assert (backlog.waiting, backlog.pending, backlog.oldest_seconds) == (0, 0, None)


def test_the_default_cache_works_on_the_cluster(settings, redis_cluster):
    redis_cluster.flush()
    settings.CACHES = {**settings.CACHES, "default": redis_cache(redis_cluster.url)}
    cache = caches["default"]
    cache.set_many({f"key-{n}": n for n in range(50)})  # keys in many slots
    assert cache.get_many([f"key-{n}" for n in range(50)]) == {f"key-{n}": n for n in range(50)}
    # Reads too go to the cluster (django-redis reads from a random one of comma-separated
    # servers, as if the URL's nodes were a master and its replicas).
    assert [cache.get(f"key-{n}") for n in range(50)] == list(range(50))
    assert cache.get_or_set("kept", lambda: "computed") == "computed"


def test_the_personalized_search_reads_the_state_on_the_cluster(
    client, model, settings, redis_cluster, shop
):
    redis_cluster.flush()
    cluster_use(settings, redis_cluster, stream=False)
    plain = card_skus(client.get(reverse("search"), {"q": "shoe"}))
    products_view(client, "RUN-1", "RUN-3")
    visitor = Visitor(client.cookies[COOKIE_NAME].value)
    assert redis_client().exists(visitor_key(visitor.id))
    found = client.get(reverse("search"), {"q": "shoe"})
    assert set(card_skus(found)[:3]) == {"RUN-1", "RUN-2", "RUN-4"} != set(plain[:3])
    assert "Because you viewed" in found.text and UNAVAILABLE not in found.text


def card_skus(response) -> list[str]:
    return re.findall(r'<article class="product-card" data-sku="([^"]+)"', response.text)


def pending_in_all(client) -> int:
    total = 0
    for stream in stream_keys():
        if client.exists(stream) and client.xinfo_groups(stream):
            total += client.xpending(stream, GROUP)["pending"]
    return total


def test_a_drainer_killed_mid_batch_on_the_cluster_loses_nothing_and_writes_nothing_twice(
    transactional_db, settings, redis_cluster, tmp_path
):
    """A real `manage.py drain_events --follow` on the cluster, stopped (SIGSTOP) while it
    holds a batch and killed; the next drain takes its entries over."""
    redis_cluster.flush()
    cluster_use(settings, redis_cluster)
    settings.CIS_EVENT_CLAIM_SECONDS = 0
    settings.CIS_VIEWS_PER_MINUTE_VISITOR = settings.CIS_VIEWS_PER_MINUTE_ADDRESS = 0
    visitors = visitors_over_every_shard()
    views = 8_000
    client = redis_client()
    for n in range(views):  # as the shop's script adds them, each on its visitor's shard
        visitor = visitors[n % len(visitors)]
        client.xadd(visitor_stream_key(visitor.id), {"visitor": visitor.id, "sku": f"S-{n}",
                                                     "id": f"{n:032x}"})  # fmt: skip
    env = {
        **os.environ,
        "REDIS_URL": redis_cluster.url,
        "CIS_REDIS_SHARDS": str(SHARDS),
        "CIS_EVENT_STREAM": "1",
        "CIS_EVENT_DRAIN_BATCH": "100",
        "CIS_EVENT_CLAIM_SECONDS": "0",
        "DATABASE_URL": database_url_of_tests(),
        "CIS_DATA_DIR": str(tmp_path / "drainer-data"),
    }
    log = tmp_path / "drainer.log"
    with log.open("w") as output:
        drainer = subprocess.Popen(
            [sys.executable, "manage.py", "drain_events", "--follow"],
            cwd=ROOT, env=env, stdout=output, stderr=output,
        )  # fmt: skip
    try:

        def holding_a_batch() -> bool:
            if not (ViewEvent.objects.exists() and pending_in_all(client)):
                return False
            os.kill(drainer.pid, signal.SIGSTOP)
            eventually(lambda: stopped(drainer.pid), what="the drainer to stop", every=0.001)
            if pending_in_all(client):
                return True
            os.kill(drainer.pid, signal.SIGCONT)  # between batches: let it go on
            return False

        eventually(
            holding_a_batch,
            what="the drainer to hold a batch",
            process=drainer,
            details=lambda: log.read_text()[-3000:],
            every=0.002,
        )
    finally:
        drainer.kill()
        drainer.wait()
    held = pending_in_all(client)
    written = ViewEvent.objects.count()
    assert held and written < views
    report = events_drain()
    print(f"\ndrainer killed holding {held} entries, {written:,} of {views:,} views written; "
          f"the next drain took {report.claimed} over, wrote {report.written:,}")  # fmt: skip
    assert report.claimed >= held
    rows = list(ViewEvent.objects.values_list("event_id", flat=True))
    assert len(rows) == len(set(rows)) == views
    assert pending_in_all(client) == 0 and events_backlog().waiting == 0


def stopped(pid: int) -> bool:
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state in ("T", "t")


@pytest.mark.parametrize("wait_replicas", [1, 0], ids=["wait-for-a-replica", "no-wait"])
def test_a_master_killed_with_its_replica_behind_loses_no_view_only_when_views_wait_for_it(
    transactional_db, settings, wait_replicas
):
    """Views go on through the shop's own path (`product_view_send`) while a master's replica
    falls behind (stopped, SIGSTOP, and its link to the master closed), the master is killed
    (SIGKILL), and the replica comes back and is promoted. With CIS_REDIS_WAIT_REPLICAS = 1, a
    view the replica did not confirm is logged by the shop as well, so every view is in the
    event log after the drain; without it, the views the master alone held are lost, which
    shows the count would see a loss. The other masters' visitors are served throughout."""
    cluster = RedisClusterOfItsOwn()
    try:
        cluster_use(settings, cluster)
        settings.CIS_REDIS_WAIT_REPLICAS = wait_replicas
        settings.CIS_REDIS_RETRY_SECONDS = 0.2
        settings.CIS_VIEWS_PER_MINUTE_VISITOR = settings.CIS_VIEWS_PER_MINUTE_ADDRESS = 0
        visitors = visitors_over_every_shard()
        client = redis_client()
        victim = client.get_node_from_key(visitor_key(visitors[0].id)).port
        replica = cluster.replica_of(victim)
        on_victim = {
            visitor.id
            for visitor in visitors
            if client.get_node_from_key(visitor_key(visitor.id)).port == victim
        }
        sent: list[str] = []  # the event id of every view the shop handled
        served = Counter()  # (on the victim, personalized) -> views

        def view() -> bool:
            """One view of the next visitor; whether it was on the victim and served."""
            visitor = visitors[len(sent) % len(visitors)]
            tracking = product_view_send(visitor, f"S-{len(sent)}", answer=False)
            try:
                tracked = tracking.tracked()
            finally:
                tracking.close()
            sent.append(tracking.event_id)
            mine = visitor.id in on_victim
            served[mine, not tracked.notices] += 1
            return mine and not tracked.notices

        def views_until(condition, what: str) -> None:
            deadline = time.monotonic() + 120
            while not condition():
                view()
                if time.monotonic() > deadline:
                    pytest.fail(f"views went on 120 s, waiting for {what}, in vain")

        views_until(lambda: len(sent) >= 1_000, "1,000 views")
        cluster.pause(replica)
        cluster.replication_cut(victim)
        behind = Counter()
        views_until(lambda: behind.update([view()]) or behind[True] >= 200,
                    "200 views served on the master whose replica is behind")  # fmt: skip
        cluster.kill(victim)
        cluster.resume(replica)
        at_kill = len(sent)
        views_until(view, "the replica to serve the master's visitors")
        assert cluster.roles()[replica] == "master"
        at_promotion, promoted = len(sent), served.copy()
        views_until(lambda: len(sent) >= at_promotion + 1_000, "1,000 views more")
        assert served[True, False] == promoted[True, False]  # all served since the promotion
        while events_drain().read:
            pass
        assert events_backlog().waiting == 0  # every stream drained and acknowledged
        logged = set(ViewEvent.objects.values_list("event_id", flat=True))
        lost = sum(1 for event_id in sent if event_id not in logged)
        print(
            f"\nfailover, CIS_REDIS_WAIT_REPLICAS={wait_replicas}: {len(sent):,} views, master "
            f"{victim} killed after {at_kill:,}, its replica serving after {at_promotion:,}; "
            f"lost {lost}; on its visitors: served "
            f"{served[True, True]:,}, unpersonalized {served[True, False]:,} (the shop logged "
            f"those itself); others: served {served[False, True]:,}, unpersonalized "
            f"{served[False, False]}"
        )
        assert served[False, False] == 0  # the other masters went on serving
        if wait_replicas:
            assert lost == 0
        else:
            assert lost >= 200  # what the master held alone, at least
    finally:
        cluster_clients_close()
        cluster.stop()


def test_a_hung_master_costs_its_visitors_one_timeout_and_the_others_nothing(
    settings, model, shop, circuit_clock, redis_failures
):
    """A master stopped (SIGSTOP: every read times out): the pages of the visitors whose
    shard it holds answer plain, with the notice, after one socket timeout in all (its
    circuit, per node, then fails them at once); the other visitors' pages stay personalized."""
    from django.test import Client

    cluster = RedisClusterOfItsOwn()
    try:
        cluster_use(settings, cluster)
        settings.CIS_REDIS_RETRY_SECONDS = 60  # no probe during the test
        clients = [Client() for _ in range(24)]
        for browser in clients:
            products_view(browser, "RUN-1")
        by_master = Counter()
        hung = (
            redis_client()
            .get_node_from_key(visitor_key(Visitor(clients[0].cookies[COOKIE_NAME].value).id))
            .port
        )

        def on_hung(browser) -> bool:
            visitor_id = Visitor(browser.cookies[COOKIE_NAME].value).id
            return redis_client().get_node_from_key(visitor_key(visitor_id)).port == hung

        cluster.pause(hung)
        for browser in clients:
            page = browser.get(reverse("search"), {"q": "shoe"})
            assert page.status_code == 200
            mine = on_hung(browser)
            by_master[mine] += 1
            assert (UNAVAILABLE in page.text) == mine
            assert ("Because you viewed" in page.text) == (not mine)
        assert by_master[True] and by_master[False]
        assert [type(failure).__name__ for failure in redis_failures] == ["TimeoutError"]
    finally:
        cluster.resume(hung)
        cluster_clients_close()
        cluster.stop()
