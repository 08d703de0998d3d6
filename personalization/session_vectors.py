"""A visitor's real-time state in the cache: the last SKUs they viewed and their session vector,
which each product view moves and search re-ranks with.

One compact value per session (keyed by the hashed session id) with a sliding expiry. It lives
in the "personalization" cache alias: Redis through django-redis when REDIS_URL is set, Django's
local-memory cache otherwise. Unlike the default cache, that alias must not ignore Redis errors:
a failure becomes `PersonalizationUnavailable`, so the page can say it is not personalized.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import BaseCache, caches
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from . import serving

logger = logging.getLogger(__name__)

CACHE_ALIAS = "personalization"
SESSION_VECTOR_TTL = 1800
SESSION_SKUS_MAX = 20
KEY_PREFIX = "cis:session:"
READER_THREADS = 4  # reads in flight at once per process (a gthread worker serves several)

# The stored value: a header (format, version id or 0, bytes of SKUs, dimensions), the SKUs
# joined by TABs (a SKU never holds whitespace), then the vector as little-endian float32.
FORMAT = 1
HEADER = struct.Struct("<BqIH")
SKU_SEPARATOR = "\t"
VECTOR_DTYPE = np.dtype("<f4")
CACHE_ERRORS = (RedisError, ConnectionInterrupted, OSError)


class PersonalizationUnavailable(Exception):
    """The visitor's state cannot be read or written (the cache is down or too slow)."""


@dataclass(frozen=True)
class SessionState:
    version_id: int | None  # the model version the vector comes from; None: no model served
    skus: tuple[str, ...]  # the last SKUs viewed, oldest first
    vector: np.ndarray | None  # unit-length float32; None without a model or a known SKU

    @property
    def viewed_recently(self) -> list[str]:
        """The viewed SKUs, most recent first, each once."""
        return list(dict.fromkeys(reversed(self.skus)))


def session_state_get(session_id: str) -> SessionState | None:
    """The visitor's state (None before their first view), its expiry pushed back.

    When another model version became active since it was stored, the vector is recomputed
    from the stored SKUs with the active one (and stored again).
    """
    return session_state_start(session_id)()


def session_state_start(session_id: str) -> Callable[[], SessionState | None]:
    """Start reading the visitor's state and return the call that finishes it, which returns
    what `session_state_get` does or raises PersonalizationUnavailable.

    On Redis the read runs on a helper thread meanwhile, so work the caller does before
    finishing (a search) hides the round trip; other caches, in this process, are read when
    it finishes.
    """
    cache, key, ttl = _cache(), _key(session_id), _ttl()
    client = getattr(cache, "client", None)
    if hasattr(client, "get_client") and hasattr(client, "decode"):  # django-redis
        # The helper thread does network I/O only: no Django cache object or database
        # connection of its own (those belong to this thread).
        redis, redis_key = client.get_client(write=True), client.make_key(key)
        pending = _reader_pool().submit(redis.getex, redis_key, ex=ttl)

        def payload_read() -> Any:
            raw = pending.result()
            return None if raw is None else client.decode(raw)

    else:  # in this process: nothing to wait for

        def payload_read() -> Any:
            return _get_touched(cache, key, ttl)

    def state_finish() -> SessionState | None:
        payload = _cache_call(payload_read)
        state = _state_decode(payload) if payload is not None else None
        if state is None:
            return None
        model = serving.model_active()
        if state.version_id != (model.version_id if model is not None else None):
            state = _state_compute(state.skus, model)
            _cache_call(cache.set, key, _state_encode(state), ttl)
        return state

    return state_finish


def _get_touched(cache: BaseCache, key: str, ttl: int) -> Any:
    """The value with its expiry pushed back: a get and a touch (caches other than Redis)."""
    payload = cache.get(key)
    if payload is not None:
        cache.touch(key, ttl)
    return payload


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _reader_pool() -> ThreadPoolExecutor:
    """This process's helper threads for Redis reads, started on first use. Threads do not
    survive a fork, so a forked child (a gunicorn or Celery worker) starts its own."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(
                    max_workers=READER_THREADS, thread_name_prefix="cis-redis"
                )
    return _pool


def _reader_pool_forget() -> None:
    global _pool
    _pool = None  # the parent's threads do not exist in a forked child


os.register_at_fork(after_in_child=_reader_pool_forget)


def session_view_add(session_id: str, sku: str) -> SessionState:
    """Record that the visitor viewed `sku`: keep the last CIS_SESSION_SKUS_MAX SKUs and
    recompute the session vector from them with the active model's own `session_vector`
    (the code the offline evaluation measures)."""
    cache, key = _cache(), _key(session_id)
    payload = _cache_call(cache.get, key)
    stored = _state_decode(payload) if payload is not None else None
    skus_max = int(getattr(settings, "CIS_SESSION_SKUS_MAX", SESSION_SKUS_MAX))
    skus = (*(stored.skus if stored is not None else ()), sku)[-skus_max:]
    state = _state_compute(skus, serving.model_active())
    _cache_call(cache.set, key, _state_encode(state), _ttl())
    return state


def _state_compute(skus: Sequence[str], model: serving.ActiveModel | None) -> SessionState:
    if model is None:
        return SessionState(version_id=None, skus=tuple(skus), vector=None)
    vector = model.recommender.session_vector(list(skus))
    return SessionState(version_id=model.version_id, skus=tuple(skus), vector=vector)


def _state_encode(state: SessionState) -> bytes:
    skus = SKU_SEPARATOR.join(state.skus).encode()
    vector = b"" if state.vector is None else state.vector.astype(VECTOR_DTYPE).tobytes()
    dims = 0 if state.vector is None else len(state.vector)
    return HEADER.pack(FORMAT, state.version_id or 0, len(skus), dims) + skus + vector


def _state_decode(payload: Any) -> SessionState | None:
    """The state in `payload`, or None when it is not one this code wrote (start afresh)."""
    try:
        format_, version_id, skus_length, dims = HEADER.unpack_from(payload)
        if format_ != FORMAT:
            return None
        start = HEADER.size
        end = start + skus_length
        if len(payload) != end + dims * VECTOR_DTYPE.itemsize:
            return None
        skus = payload[start:end].decode()
    except (TypeError, struct.error, UnicodeDecodeError):
        return None
    vector = None
    if dims:
        vector = np.frombuffer(payload, dtype=VECTOR_DTYPE, count=dims, offset=end)
        vector = vector.astype(np.float32, copy=False)
    return SessionState(
        version_id=version_id or None,
        skus=tuple(skus.split(SKU_SEPARATOR)) if skus else (),
        vector=vector,
    )


def _cache() -> BaseCache:
    # Before the alias is configured, the default cache (which hides Redis errors) still works.
    alias = CACHE_ALIAS if CACHE_ALIAS in settings.CACHES else "default"
    return caches[alias]


def _key(session_id: str) -> str:
    return KEY_PREFIX + session_id


def _ttl() -> int:
    return int(getattr(settings, "CIS_SESSION_VECTOR_TTL", SESSION_VECTOR_TTL))


def _cache_call(method: Callable[..., Any], *args: Any) -> Any:
    try:
        return method(*args)
    except CACHE_ERRORS as exc:
        logger.warning(
            "personalization is unavailable: the session cache failed (%s: %s)",
            type(exc).__name__,
            exc,
        )
        raise PersonalizationUnavailable(f"the session cache failed: {exc}") from exc
