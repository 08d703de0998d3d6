"""Whether the Redis that holds the stream of views (and visitors' state) keeps them through a
crash: its append-only file (on a cluster, each master's). Views wait in the stream until the
drainer moves them into the event log; a Redis that restarts without its data loses those, and
every visitor's state.

`appendonly yes` with `appendfsync everysec` (make serve, docker-compose.yml) keeps every view
Redis accepted when its process dies (killed, out of memory, a crash): Redis writes the file
before it answers. A crash of the machine loses at most the views of the last second or so,
the writes not yet flushed to disk. Asked with CONFIG GET, which managed services (ElastiCache,
Memorystore...) often refuse: then the shop says it cannot tell.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from redis.cluster import RedisCluster
from redis.exceptions import ResponseError

from common.redis_cluster import REDIS_FAILURES

from .state import redis_client

logger = logging.getLogger(__name__)

HINT = (
    "run it with `appendonly yes` and `appendfsync everysec` (make serve and "
    "docker-compose.yml do), or check that your managed Redis persists its data"
)


def redis_persistence_problem() -> str | None:
    """What the Redis of the stream and the visitors' state lacks to keep them through a crash,
    or None when it has its append-only file, or when it cannot be reached (nothing to judge;
    the circuit breaker says when Redis fails)."""
    if settings.CIS_VISITOR_STORE != "redis":
        return None
    held = "the views not yet drained into the event log" if settings.CIS_EVENT_STREAM else ""
    held = f"{held} and visitors' state" if held else "visitors' state"
    for where, server in _servers(redis_client()):
        problem = _server_problem(server, where, held)
        if problem:
            return problem
    return None


def _server_problem(server, where: str, held: str) -> str | None:
    try:
        answer = server.config_get("appendonly")
    except ResponseError as exc:  # CONFIG refused: renamed or disabled, as managed Redis does
        return (
            f"cannot tell whether the Redis at {where} keeps {held} through a restart: it "
            f"refuses CONFIG GET appendonly ({exc})"
        )
    except REDIS_FAILURES:
        return None
    value = {_text(key): _text(value) for key, value in answer.items()}.get("appendonly")
    if value == "yes":
        return None
    return (
        f"the Redis at {where} has no append-only file (appendonly {value or 'unknown'}): if it "
        f"crashes or restarts, {held} are lost"
    )


def redis_persistence_warn() -> None:
    """Log the problem, if any, as a process that relies on that Redis starts."""
    problem = redis_persistence_problem()
    if problem:
        logger.warning("%s; %s", problem, HINT)


def _servers(client) -> list[tuple[str, redis.Redis]]:
    """The Redis servers that hold the state, each with its address: a cluster's masters."""
    if isinstance(client, RedisCluster):
        try:
            return [(node.name, node.redis_connection) for node in client.get_primaries()]
        except REDIS_FAILURES:
            return []
    kwargs = client.connection_pool.connection_kwargs
    return [(f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}", client)]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
