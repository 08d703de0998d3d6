"""Redis Cluster for the shop's caches and its visitors' state: a URL of the form
`redis-cluster://host:port[,host:port...]` (any of the cluster's nodes; the client finds the
others) makes every Redis client of the shop a redis-py `RedisCluster`.

django-redis has no cluster client: `ClusterConnectionFactory` (a django-redis
CONNECTION_FACTORY) makes one `RedisCluster` per URL and process, whose nodes' connections go
through the circuit breaker (common.redis_circuit), so each node has its own circuit: a dead
master costs the keys of its slots one timeout per period, and the other nodes go on answering.
A command that meets a dead node fails at once (one retry, after the client has read the
cluster's map of slots again), never after seconds of backoff: the page is then unpersonalized
for the moment the replica takes to be promoted.

`redis_cache` makes a CACHES entry for either kind of URL, for the settings and the tests.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from django.conf import settings
from django_redis.client import DefaultClient
from django_redis.exceptions import ConnectionInterrupted
from django_redis.pool import ConnectionFactory
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException, RedisError
from redis.retry import Retry

from common.redis_circuit import CircuitBreakerConnection

SCHEME = "redis-cluster://"
SOCKET_TIMEOUT = 0.25  # seconds: connect, read and write, for plain Redis and the cluster alike

# What a Redis client raises when Redis cannot answer: a cluster with slots that no node serves
# raises RedisClusterException, which is not a RedisError.
REDIS_FAILURES = (RedisError, OSError, RedisClusterException)

_clients: dict[tuple, RedisCluster] = {}
_clients_lock = threading.Lock()


def is_cluster_url(url: str | None) -> bool:
    return bool(url) and url.startswith(SCHEME)


def cluster_nodes(url: str) -> tuple[list[ClusterNode], str | None]:
    """The startup nodes of a `redis-cluster://[:password@]host:port[,host:port...]` URL, and
    its password. Raises ValueError, naming the URL's problem."""
    if not is_cluster_url(url):
        raise ValueError(f"{url!r} is not a {SCHEME} URL")
    rest = url[len(SCHEME) :].split("/", 1)[0].split("?", 1)[0]
    password = None
    if "@" in rest:
        credentials, rest = rest.rsplit("@", 1)
        password = credentials.split(":", 1)[-1] or None
    nodes = []
    for address in filter(None, rest.split(",")):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{url!r}: {address!r} is not host:port")
        nodes.append(ClusterNode(host.strip("[]"), int(port)))
    if not nodes:
        raise ValueError(f"{url!r} names no node (redis-cluster://host:port[,host:port...])")
    return nodes, password


def cluster_client(url: str, **connection: Any) -> RedisCluster:
    """A RedisCluster on the nodes of `url`, its connections made with `connection` (socket
    timeouts, the connection class), one per URL and options in a process (it is thread-safe
    and holds a connection pool per node)."""
    key = (url, tuple(sorted((name, repr(value)) for name, value in connection.items())))
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                nodes, password = cluster_nodes(url)
                # Built from a node's URL, redis-py gives each node a connection pool of our
                # connection class (it would pass the class to Redis() otherwise, which fails).
                first = f"redis://{f':{password}@' if password else ''}{nodes[0].name}/0"
                client = RedisCluster(
                    url=first, startup_nodes=nodes[1:], retry=Retry(NoBackoff(), 1),
                    **connection,
                )  # fmt: skip
                _clients[key] = client
    return client


_map_read_at: dict[int, float] = {}


def cluster_map_refresh(client: RedisCluster) -> None:
    """Read the cluster's map of slots again, at most once per CIS_REDIS_RETRY_SECONDS for a
    client: after a node failed, its slots may have gone to a replica promoted in its place
    (commands that the client itself runs do this on their own)."""
    now = time.monotonic()
    if now - _map_read_at.get(id(client), -math.inf) < settings.CIS_REDIS_RETRY_SECONDS:
        return
    _map_read_at[id(client)] = now
    try:
        client.nodes_manager.initialize()
    except REDIS_FAILURES:
        pass  # no node answered: the next failure asks again


def cluster_clients_close() -> None:
    """Close every cluster client this process made (tests: a cluster stopped)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


class ClusterConnectionFactory(ConnectionFactory):
    """django-redis's connection factory for a `redis-cluster://` LOCATION."""

    def connect(self, url: str) -> RedisCluster:
        connection = {
            "socket_timeout": self.options.get("SOCKET_TIMEOUT"),
            "socket_connect_timeout": self.options.get("SOCKET_CONNECT_TIMEOUT"),
            **self.pool_cls_kwargs,  # the connection class: the circuit breaker's
        }
        return cluster_client(url, **{k: v for k, v in connection.items() if v is not None})

    def disconnect(self, connection: RedisCluster) -> None:
        connection.disconnect_connection_pools()


class ClusterCacheClient(DefaultClient):
    """django-redis's client on a cluster: the URL's nodes are one cluster (django-redis would
    take comma-separated servers for a master and its replicas), and a cache's keys lie in
    many slots, so `get_many` asks each slot's node (MGET only takes keys of one slot)."""

    def __init__(self, server, params, backend) -> None:
        super().__init__([server] if isinstance(server, str) else server, params, backend)

    def get_many(self, keys, version=None, client=None) -> dict:
        if not keys:
            return {}
        client = client or self.get_client(write=False)
        made = {self.make_key(key, version=version): key for key in keys}
        try:
            values = client.mget_nonatomic(list(made))
        except REDIS_FAILURES as exc:
            raise ConnectionInterrupted(connection=client) from exc
        return {
            made[key]: self.decode(value)
            for key, value in zip(made, values, strict=True)
            if value is not None
        }


def redis_cache(url: str, *, ignore_exceptions: bool = False) -> dict:
    """A django-redis CACHES entry for a redis:// or a redis-cluster:// URL: short socket
    timeouts, every connection through the circuit breaker; with `ignore_exceptions`, a Redis
    that fails is a cache miss (the shop's page cache), else the caller sees the error (the
    visitors' state, which says personalization is off)."""
    options: dict[str, Any] = {
        "SOCKET_CONNECT_TIMEOUT": SOCKET_TIMEOUT,
        "SOCKET_TIMEOUT": SOCKET_TIMEOUT,
        "CONNECTION_POOL_KWARGS": {"connection_class": CircuitBreakerConnection},
    }
    if is_cluster_url(url):
        options["CONNECTION_FACTORY"] = "common.redis_cluster.ClusterConnectionFactory"
        options["CLIENT_CLASS"] = "common.redis_cluster.ClusterCacheClient"
    if ignore_exceptions:
        options["IGNORE_EXCEPTIONS"] = True
    return {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url, "OPTIONS": options}
