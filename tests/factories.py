"""Small builders shared by the tests (imported as `from factories import ...`)."""

import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path

import numpy as np
import port_for
import redis
from gensim.models import KeyedVectors
from PIL import Image
from pytest_redis.executor import RedisExecutor

from personalization.engine.config import RecommenderConfig
from personalization.engine.learning import recommender_build
from personalization.engine.model import SessionRecommender
from personalization.engine.persistence import recommender_save
from personalization.engine.projection import projection_compute, projection_save
from personalization.models import EmbeddingVersion, ResultClick, SearchImpression
from personalization.training import embeddings_train
from personalization.versions import training_version_create

EMBEDDING_ONLY = RecommenderConfig(half_life=1.0, components=())


def picture_bytes(kind: str = "PNG", color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A small real picture in `kind` (PNG, JPEG, GIF, WEBP), one colour, for a catalog."""
    buffer = io.BytesIO()
    Image.new("RGB", (12, 8), color).save(buffer, format=kind)
    return buffer.getvalue()


def keyed_vectors(vectors: dict[str, tuple[float, ...]]) -> KeyedVectors:
    """Hand-made product vectors."""
    keyed = KeyedVectors(vector_size=len(next(iter(vectors.values()))))
    keyed.add_vectors(list(vectors), np.array(list(vectors.values()), dtype=np.float32))
    return keyed


def hand_vectors() -> KeyedVectors:
    """a, b, c along the axes (not unit length: building normalizes), d between a and b."""
    vectors = KeyedVectors(vector_size=3)
    vectors.add_vectors(
        ["a", "b", "c", "d"],
        np.array([[2, 0, 0], [0, 3, 0], [0, 0, 1], [1, 0.8, 0]], dtype=np.float32),
    )
    return vectors


def hand_recommender(config=EMBEDDING_ONLY, sessions=()) -> SessionRecommender:
    """A recommender built on `hand_vectors` (and `sessions`, for its count components)."""
    return recommender_build(hand_vectors(), list(sessions), config)


def version_make(
    models_dir: Path, vectors: dict[str, tuple[float, ...]], *, with_map: bool = False
) -> EmbeddingVersion:
    """A succeeded product version whose files hold `vectors`, saved as training saves them;
    `with_map`: with its map too, as training draws it."""
    version = EmbeddingVersion.objects.create(kind="product", status="succeeded")
    version.path = f"product/v{version.pk}"
    recommender = recommender_build(keyed_vectors(vectors), [], EMBEDDING_ONLY)
    recommender_save(recommender, models_dir / version.path)
    if with_map:
        coordinates = projection_compute(recommender.vectors.vectors)
        projection_save(models_dir / version.path, coordinates)
    version.save(update_fields=["path"])
    return version


BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
# For the `shop` fixture's products: running along the first axis, hiking the second,
# lifestyle the third.
SHOP_VECTORS = {
    "RUN-1": (1.0, 0.1, 0.0, 0.0),
    "RUN-2": (0.9, 0.0, 0.1, 0.1),
    "RUN-3": (0.8, 0.1, 0.0, 0.3),
    "RUN-4": (0.95, 0.05, 0.05, 0.0),
    "HIK-1": (0.1, 1.0, 0.0, 0.0),
    "HIK-2": (0.0, 0.8, 0.1, 0.3),
    "HIK-3": (0.1, 0.9, 0.2, 0.0),
    "LIF-1": (0.0, 0.1, 1.0, 0.1),
    "LIF-2": (0.1, 0.0, 0.9, 0.2),
}
PLAIN_SHOES = ["HIK-3", "LIF-2"]  # the short-named shoes the engine ranks first for "shoe"


def redis_store_use(settings, url: str, *, stream: bool = False) -> None:
    """Visitors' state in the Redis at `url` (and their views through its stream when
    `stream`), as the shop runs with REDIS_URL."""
    from common.redis_cluster import redis_cache

    settings.CACHES = {**settings.CACHES, "personalization": redis_cache(url)}
    settings.CIS_VISITOR_STORE = "redis"
    settings.CIS_EVENT_STREAM = stream


REDIS_DOWN_URL = "redis://127.0.0.1:1/0"  # nothing listens there: refused


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SkippedSleeps:
    """A clock that runs with the machine's but skips every sleep, adding it to the time it
    reads and to `slept`: code that waits between tries goes on at once, and its deadlines
    see the time it would have waited."""

    def __init__(self):
        self.slept = 0.0

    def __call__(self) -> float:
        return time.time() + self.slept

    def sleep(self, seconds: float) -> None:
        self.slept += seconds


def two_groups_log(count: int = 120) -> list[list[str]]:
    """Sessions of four views each, alternately from two groups of five products (A*, B*)."""
    rng = np.random.default_rng(3)
    groups = [[f"A{i}" for i in range(5)], [f"B{i}" for i in range(5)]]
    return [list(rng.choice(groups[n % 2], size=4)) for n in range(count)]


FAST = {"epochs": 3, "min_count": 2, "vector_size": 16, "workers": 1}  # training params, quick


def train(params=None, **options) -> EmbeddingVersion:
    """A product version trained now on the logged sessions, with FAST params."""
    version = training_version_create(params={**FAST, **(params or {})}, triggered_by="test")
    return embeddings_train(version.pk, **options)


class Visitor:
    """A browser-like HTTP client with its own cookies (its own session)."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> bytes:
        request = urllib.request.Request(self.base_url + path, headers={"User-Agent": BROWSER})
        with self.opener.open(request, timeout=60) as response:
            assert response.status == 200
            return response.read()

    def top(self, query: str, *, personalize: bool = True, limit: int = 5) -> dict:
        flag = "1" if personalize else "0"
        return json.loads(self.get(f"/api/search/?q={query}&personalize={flag}&limit={limit}"))


def products_view(client, *skus: str):
    """`client` opens each product's page, as a browser does (so each view is recorded); the
    last page's response."""
    from django.urls import reverse

    for sku in skus:
        response = client.get(reverse("product", args=[sku]), headers={"User-Agent": BROWSER})
        assert response.status_code == 200
    return response


def running_shoes_create(count: int = 60) -> None:
    """`count` running shoes, men's (odd numbers) and women's, priced from 40 up (MS-00 first)."""
    from catalog.models import Product

    Product.objects.bulk_create(
        [
            Product(
                sku=f"MS-{i:02d}",
                name=f"{'Men' if i % 2 else 'Women'}'s Running Shoe No. {i}",
                target="men" if i % 2 else "women",
                extra={"category": "running shoes", "price": f"{40 + i}.00"},
            )
            for i in range(count)
        ]
    )


class RedisOfItsOwn:
    """A redis-server for one test, which it may hang (SIGSTOP: every read times out), resume,
    kill and start again: pytest-redis's executor on a free port, in a folder of its own (or
    in `folder`), with its append-only file when `appendonly` (appendfsync everysec, Redis's
    default)."""

    def __init__(self, *, appendonly: bool = False, folder: Path | None = None):
        # Short: the folder holds a unix socket.
        self.folder = Path(tempfile.mkdtemp(prefix="redis-", dir=folder))
        port = port_for.select_random()
        self.executor = RedisExecutor(
            shutil.which("redis-server"), databases=2, redis_timeout=0, loglevel="warning",
            host="127.0.0.1", port=port, datadir=self.folder,
            appendonly="yes" if appendonly else "no",
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{port}/0"
        self.start()

    def start(self) -> None:
        self.executor.start()

    def hang(self) -> None:
        os.kill(self.executor.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.executor.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        self.executor.kill(sig=signal.SIGKILL)

    def stop(self) -> None:
        if self.executor.running():
            self.resume()
            self.executor.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class RedisClusterOfItsOwn:
    """A real Redis Cluster for a test: `masters` redis-servers with `replicas` each
    (`--cluster-enabled yes` on free ports, joined by `redis-cli --cluster create`), in a
    folder of their own, without persistence (a replica holds a master's data), the masters
    serving their slots while another's are failing over (cluster-require-full-coverage no, as
    docker-compose.yml's cluster runs), a replica's first sync started at once (not after the
    5 s Redis waits for more replicas). `url` is the shop's redis-cluster:// URL."""

    NODE_TIMEOUT_MS = 1000  # how long a master may not answer before its replica takes over

    def __init__(self, *, masters: int = 3, replicas: int = 1):
        self.folder = Path(tempfile.mkdtemp(prefix="redis-cluster-"))
        self.processes: dict[int, subprocess.Popen] = {}
        ports = cluster_ports(masters * (1 + replicas))
        try:
            for port in ports:
                self._node_start(port)
            addresses = [f"127.0.0.1:{port}" for port in ports]
            subprocess.run(
                ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas",
                 str(replicas), "--cluster-yes"],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            self.until(self.healthy, "the cluster to be up, every replica in sync")
        except BaseException:
            self.stop()
            raise
        self.url = "redis-cluster://" + ",".join(addresses[:2])

    def _node_start(self, port: int) -> None:
        folder = self.folder / str(port)
        folder.mkdir()
        self.processes[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled",
             "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout",
             str(self.NODE_TIMEOUT_MS), "--cluster-require-full-coverage", "no", "--save", "",
             "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--dir", str(folder),
             "--logfile", "redis.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.until(lambda: self.node(port).ping(), f"redis-server on port {port}")

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)

    def _answer(self, port: int, ask):
        try:
            with self.node(port) as client:
                return ask(client)
        except redis.RedisError:
            return None

    def roles(self) -> dict[int, str]:
        """Each live node's role as it says itself: master, or replica (slave)."""
        roles = {}
        for port, process in self.processes.items():
            if process.poll() is None:
                info = self._answer(port, lambda client: client.info("replication"))
                roles[port] = info["role"] if info else "unanswered"
        return roles

    def masters(self) -> list[int]:
        return sorted(port for port, role in self.roles().items() if role == "master")

    def replica_of(self, master: int) -> int:
        for port, role in self.roles().items():
            info = self._answer(port, lambda client: client.info("replication"))
            if role == "slave" and info and info.get("master_port") == master:
                return port
        raise LookupError(f"no replica of the master on port {master}")

    def healthy(self) -> bool:
        """Every live node sees the cluster ok, and every replica's link to its master is up."""
        for port in self.roles():
            info = self._answer(port, lambda client: client.cluster("info"))
            if not info or info.get("cluster_state") != "ok":
                return False
            replication = self._answer(port, lambda client: client.info("replication"))
            if replication["role"] == "slave" and replication["master_link_status"] != "up":
                return False
        return True

    def pause(self, port: int) -> None:
        os.kill(self.processes[port].pid, signal.SIGSTOP)

    def resume(self, port: int) -> None:
        os.kill(self.processes[port].pid, signal.SIGCONT)

    def replication_cut(self, master: int) -> None:
        """Close the links of `master`'s replicas (paused, they cannot link again): what it
        writes from now on, it alone holds."""
        self.node(master).client_kill_filter(_type="replica")

    def kill(self, port: int) -> None:
        process = self.processes[port]
        process.kill()
        process.wait()

    def until(self, condition, what: str, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"waited {seconds:g} s for {what} in vain")
            time.sleep(0.05)

    def flush(self) -> None:
        for port in self.masters():
            self._answer(port, lambda client: client.flushall())

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.kill()
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def cluster_ports(count: int) -> list[int]:
    """`count` free ports, each with its cluster bus port (the port + 10000) free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = port_for.select_random(ports=set(range(20000, 55000)) - set(ports))
        if port_for.is_available(port + 10000):
            ports.append(port)
    return ports


def impression_make(
    arm: str,
    *,
    teams: str = "",
    query: str = "shoes",
    clicks: tuple[int, ...] = (),
    minutes: float = 0,
    impression_id: str | None = None,
) -> SearchImpression:
    """A recorded search page shown `minutes` after 2026-12-01 09:00 UTC, with a click at each
    of the 0-based `clicks` positions (as the drain writes them)."""
    shown_at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    impression = SearchImpression.objects.create(
        impression_id=impression_id or os.urandom(16).hex(),
        visitor_id=os.urandom(16).hex(),
        query=query,
        arm=arm,
        skus="\t".join(f"S{position}" for position in range(max(len(teams), 4))),
        teams=teams,
        shown_at=shown_at,
    )
    for position in clicks:
        ResultClick.objects.create(
            impression_id=impression.impression_id,
            position=position,
            sku=f"S{position}",
            clicked_at=shown_at + timedelta(seconds=30),
        )
    return impression
