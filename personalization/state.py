"""A visitor's state: the SKUs they viewed, in their Django session (what "Recently viewed"
lists), and their real-time state in the cache: the last SKUs they viewed and their session
vector, which each product view moves and search re-ranks with.

One compact value per session (keyed by the hashed session id) with a sliding expiry. It lives
in the "personalization" cache alias: Redis through django-redis when REDIS_URL is set, Django's
local-memory cache otherwise. Unlike the default cache, that alias must not ignore Redis errors:
a failure becomes `PersonalizationUnavailable`, so the page can say it is not personalized.
"""

from __future__ import annotations

import enum
import logging
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import BaseCache, caches
from django.utils.crypto import salted_hmac
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from . import serving

logger = logging.getLogger(__name__)

CACHE_ALIAS = "personalization"
KEY_PREFIX = "cis:session:"
VIEWED_SKUS_KEY = "viewed_skus"  # in the Django session
UNAVAILABLE = "Personalization is unavailable right now, so results are not tailored to you."

# The stored value: a header (format, version id or 0, bytes of SKUs, dimensions), the SKUs
# joined by TABs (a SKU never holds whitespace), then the vector as little-endian float32.
FORMAT = 1
HEADER = struct.Struct("<BqIH")
SKU_SEPARATOR = "\t"
VECTOR_DTYPE = np.dtype("<f4")
CACHE_ERRORS = (RedisError, ConnectionInterrupted, OSError)


class _Unset(enum.Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET  # the active model has not been looked up: the reader looks it up


class PersonalizationUnavailable(Exception):
    """The visitor's state cannot be read or written (the cache is down or too slow)."""


def session_id_for(session_key: str) -> str:
    """The id a live session has in the event log and the cache: a keyed hash, never the
    session key."""
    return salted_hmac("personalization.session", session_key).hexdigest()[:32]


def session_skus_append(session: SessionBase, sku: str) -> str:
    """Add `sku` to the SKUs the visitor's Django session lists (the last
    CIS_RECENTLY_VIEWED_MAX); return the visitor's session id, saving a new session so that it
    has one now, not at the end of the response."""
    viewed = [*session.get(VIEWED_SKUS_KEY, []), sku]
    session[VIEWED_SKUS_KEY] = viewed[-settings.CIS_RECENTLY_VIEWED_MAX :]
    if session.session_key is None:
        session.save()
    return session_id_for(session.session_key)


def session_skus_recent(session: SessionBase, *, limit: int = 8) -> list[str]:
    """The SKUs this visitor viewed, most recent first, each once."""
    seen: list[str] = []
    for sku in reversed(session.get(VIEWED_SKUS_KEY, [])):
        if sku not in seen:
            seen.append(sku)
            if len(seen) == limit:
                break
    return seen


@dataclass
class VisitorState:
    state: SessionState | None
    notices: list[str] = field(default_factory=list)


def visitor_state(
    session: SessionBase, *, model: serving.ActiveModel | None | _Unset = UNSET
) -> VisitorState:
    """The visitor's session vector and recent SKUs, if they have any and they can be read.
    `model`: the active model, when the caller has already looked it up."""
    if session.session_key is None:
        return VisitorState(None)
    try:
        return VisitorState(session_state_get(session_id_for(session.session_key), model=model))
    except PersonalizationUnavailable:
        return VisitorState(None, [UNAVAILABLE])


@contextmanager
def visitor_state_reading(
    session: SessionBase,
    *,
    wanted: bool = True,
    model: serving.ActiveModel | None | _Unset = UNSET,
) -> Iterator[Callable[[], VisitorState]]:
    """Ask for the visitor's state now, get it from the call given when ready (see
    `session_state_reading`). Not `wanted`, or without a session key: no state, nothing asked."""
    if session.session_key is None or not wanted:
        yield lambda: VisitorState(None)
        return
    with session_state_reading(session_id_for(session.session_key), model=model) as state_read:

        def visitor_read() -> VisitorState:
            try:
                return VisitorState(state_read())
            except PersonalizationUnavailable:
                return VisitorState(None, [UNAVAILABLE])

        yield visitor_read


@dataclass(frozen=True)
class SessionState:
    version_id: int | None  # the model version the vector comes from; None: no model served
    skus: tuple[str, ...]  # the last SKUs viewed, oldest first
    vector: np.ndarray | None  # unit-length float32; None without a model or a known SKU

    @property
    def viewed_recently(self) -> list[str]:
        """The viewed SKUs, most recent first, each once."""
        return list(dict.fromkeys(reversed(self.skus)))


def session_state_get(
    session_id: str, *, model: serving.ActiveModel | None | _Unset = UNSET
) -> SessionState | None:
    """The visitor's state (None before their first view), its expiry pushed back.

    When another model version became active since it was stored, the vector is recomputed
    from the stored SKUs with the active one (and stored again).
    """
    with session_state_reading(session_id, model=model) as state_read:
        return state_read()


@contextmanager
def session_state_reading(
    session_id: str, *, model: serving.ActiveModel | None | _Unset = UNSET
) -> Iterator[Callable[[], SessionState | None]]:
    """Ask for the visitor's state now; the call it gives returns what `session_state_get`
    does (or raises PersonalizationUnavailable) when the caller is ready for it. `model`: the
    active model, when the caller has already looked it up.

    On Redis the GETEX is sent at once and its reply read by that call, so work done in
    between (a search) overlaps the round trip. Leaving the block without reading drops the
    connection, as its unread reply would confuse the next command.
    """
    cache, key, ttl = _cache(), _key(session_id), _ttl()
    client = getattr(cache, "client", None)
    if not (hasattr(client, "get_client") and hasattr(client, "decode")):  # not django-redis
        yield lambda: _state_finish(
            _cache_call(_get_touched, cache, key, ttl), cache, key, ttl, model
        )
        return
    pending = _RedisReply(client.get_client(write=True).connection_pool)
    pending.send("GETEX", client.make_key(key), "EX", ttl)
    try:

        def state_read() -> SessionState | None:
            raw = _cache_call(pending.read)
            payload = None if raw is None else client.decode(raw)
            return _state_finish(payload, cache, key, ttl, model)

        yield state_read
    finally:
        pending.close()


class _RedisReply:
    """One command sent on a connection of `pool`, its reply read later (as redis-py's
    pipelines and pub/sub do). A failure to send is raised when the reply is read."""

    def __init__(self, pool: redis.ConnectionPool):
        self.pool = pool
        self.connection: redis.connection.AbstractConnection | None = None
        self.error: Exception | None = None
        self.answered = False

    def send(self, *command: Any) -> None:
        try:
            self.connection = self.pool.get_connection()
            self.connection.send_command(*command)
        except CACHE_ERRORS as exc:
            self.error = exc

    def read(self) -> Any:
        if self.error is not None:
            raise self.error
        try:
            reply = self.connection.read_response()
        except BaseException:
            self.connection.disconnect()
            raise
        self.answered = True
        return reply

    def close(self) -> None:
        if self.connection is None:
            return
        if not self.answered:
            self.connection.disconnect()
        self.pool.release(self.connection)
        self.connection = None


def _state_finish(
    payload: Any, cache: BaseCache, key: str, ttl: int, model: serving.ActiveModel | None | _Unset
) -> SessionState | None:
    """The state in `payload`, its vector recomputed when another model version became active
    since it was stored (and stored again)."""
    state = _state_decode(payload) if payload is not None else None
    if state is None:
        return None
    if model is UNSET:
        model = serving.model_active()
    if state.version_id != (model.version_id if model is not None else None):
        state = _state_compute(state.skus, model)
        _cache_call(cache.set, key, _state_encode(state), ttl)
    return state


def _get_touched(cache: BaseCache, key: str, ttl: int) -> Any:
    """The value with its expiry pushed back: a get and a touch (caches other than Redis)."""
    payload = cache.get(key)
    if payload is not None:
        cache.touch(key, ttl)
    return payload


def session_view_add(session_id: str, sku: str) -> SessionState:
    """Record that the visitor viewed `sku`: keep the last CIS_SESSION_SKUS_MAX SKUs and
    recompute the session vector from them with the active model's own `session_vector`
    (the code the offline evaluation measures)."""
    cache, key = _cache(), _key(session_id)
    payload = _cache_call(cache.get, key)
    stored = _state_decode(payload) if payload is not None else None
    skus = (*(stored.skus if stored is not None else ()), sku)[-settings.CIS_SESSION_SKUS_MAX :]
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
    return settings.CIS_SESSION_VECTOR_TTL


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
