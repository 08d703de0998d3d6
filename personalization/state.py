"""A visitor's state: the products they viewed last, oldest first (at most
CIS_VISITOR_VIEWS_MAX). It is the one source of truth: "Recently viewed", the session vector
that re-ranks search, the recommendations, the path on the map and the visitor's affinity are
all computed from it when it is read. The session vector (the visitor's taste: what search
re-ranks with and the taste panel draws) is the mean of the viewed products' vectors weighted
by `views_weights`, one weighting for both, and is kept per process for the state it was
computed from, so requests between two views do not compute it again.

A visitor is a random token in the `cis_visitor` cookie (the shop needs no Django session for
them); the store, the event log and its exports know them by a keyed hash of it, `Visitor.id`.

Where the state lives is chosen once, at start-up, by CIS_VISITOR_STORE:
- "redis" (the default with REDIS_URL): one list per visitor. A view is one round trip, one
  script (the flood limits' counters, RPUSH, LTRIM, EXPIRE and, with CIS_EVENT_STREAM, XADD of
  the event to the stream that `personalization.event_stream` drains into the event log); a
  request reads it with one LRANGE. The keys of one visitor share a hash slot, with their
  shard's stream (personalization.redis_keys), so a Redis Cluster (a `redis-cluster://`
  REDIS_URL) runs the script on the master that holds them; with CIS_REDIS_WAIT_REPLICAS, a
  view is answered once that many replicas have it too, so a master's failover loses none.
- "database" (the default otherwise): one row per visitor, which outlives restarts; the view's
  event is written in the same transaction, once the limits (counted in the cache) let it.
A view over a flood limit (personalization.view_limits) raises ViewsLimited and moves nothing.
Both forget a visitor CIS_VISITOR_TTL seconds after their last view. A store that cannot answer
raises `VisitorStateUnavailable`, and the page shows the plain order with the UNAVAILABLE
notice. Redis connections go through common.redis_circuit, so a dead or hung Redis costs a
process at most one timeout every CIS_REDIS_RETRY_SECONDS, not one per request.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, lru_cache
from typing import Any, Protocol

import numpy as np
import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.db import DatabaseError, transaction
from django.dispatch import receiver
from django.utils import timezone
from django.utils.crypto import salted_hmac
from redis.cluster import RedisCluster
from redis.exceptions import (
    AskError,
    ClusterDownError,
    NoScriptError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)

from common.redis_cluster import REDIS_FAILURES, cluster_map_refresh

from . import serving
from .models import VisitorViews, live_view_log
from .redis_keys import shard_tags, visitor_key, visitor_stream_key, visitor_tag
from .view_limits import ViewsLimited, view_window, views_limit_take

logger = logging.getLogger(__name__)

COOKIE_NAME = "cis_visitor"
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
REDIS_ALIAS = "personalization"  # the django-redis cache whose connection pool the store uses
SKU_SEPARATOR = "\t"  # a SKU never holds whitespace
UNAVAILABLE = "Personalization is unavailable right now, so results are not tailored to you."
# Replies that say a cluster's command ran nowhere (its slot moved, or is being moved or failed
# over): asked again through the cluster client, which follows the cluster's new map.
REDIRECTED = (AskError, TryAgainError, ClusterDownError)
WAIT_MILLISECONDS = 100  # how long a view waits for CIS_REDIS_WAIT_REPLICAS replicas at most
VECTORS_KEPT = 4096  # session vectors kept per process, for the last states seen
# A view this many views ago weighs half in the visitor's taste. The recommender's own half-life
# (1 view) predicts the next click; taste lasts longer: at 1, one boot after four running shoes
# outweighs them and the panel and re-rank turn to boots (docs/tuning.md, "Taste weighting").
TASTE_HALF_LIFE = 4.0


class VisitorStateUnavailable(Exception):
    """The visitor's state cannot be read or written (its store is down or too slow)."""


class Visitor:
    """Who is browsing: the token of their cookie, or none yet. `identify` gives a new visitor
    a token (the response then sets the cookie); `id` is what the store and the log know."""

    def __init__(self, token: str | None = None, *, address: str | None = None):
        self.token = token if token and TOKEN_PATTERN.fullmatch(token) else None
        self.address = address  # the client's, as the flood limits count it (none: not limited)
        self.cookie_due = False  # the response must set (or refresh) the cookie
        self._prefetched: Any = None  # a read of the state sent ahead (see state_prefetch)
        self._writes: list[Callable[[], None]] = []  # writes sent, their replies read later

    def state_prefetch(self) -> None:
        """Send the read of the state now, for the first `visitor_state_reading` to take: the
        round trip then overlaps whatever the request does first (see VisitorMiddleware)."""
        if self.token is not None and self._prefetched is None:
            self._prefetched = visitor_store().views_request(self.id)

    def prefetch_close(self) -> None:
        """Settle a read sent ahead that nobody took (the end of the request)."""
        if self._prefetched is not None:
            self._prefetched.close()
            self._prefetched = None

    def write_later(self, settle: Callable[[], None]) -> None:
        """A write sent for this visitor whose reply `settle` reads as the response closes (or
        before their next write), so the round trip overlaps the rest of the request and the
        sending of the response."""
        self._writes.append(settle)

    @property
    def writes_pending(self) -> bool:
        return bool(self._writes)

    def writes_settle(self) -> None:
        """Read the replies of the writes sent (see write_later); again, nothing."""
        writes, self._writes = self._writes, []
        for settle in writes:
            settle()

    @classmethod
    def from_cookies(cls, cookies: dict[str, str], *, address: str | None = None) -> Visitor:
        return cls(cookies.get(COOKIE_NAME), address=address)

    @property
    def id(self) -> str | None:
        return visitor_id_for(self.token) if self.token else None

    def identify(self) -> str:
        """The visitor's id, a token made for them first if they have none."""
        if self.token is None:
            self.token = secrets.token_urlsafe(16)
        self.cookie_due = True  # set, or pushed back CIS_VISITOR_TTL from now
        return self.id

    def token_swap(self, token: str | None) -> None:
        """Browse under `token` from now on (a new one when None, or when it is not a token),
        the state of the current one left as it is: a persona's visit sets the visitor's own
        views aside so, and gives them back."""
        self.prefetch_close()  # a read of the current state, sent ahead, is no longer theirs
        self.token = token if token and TOKEN_PATTERN.fullmatch(token) else None
        self.identify()

    def forget(self) -> None:
        """Clear the state and start afresh under a new token, which nothing links to the old
        one: the views already logged stay in the (anonymous) training log."""
        self.prefetch_close()  # a read of the old state, sent ahead, is no longer theirs
        if self.token is not None:
            try:
                visitor_store().forget(self.id)
            except VisitorStateUnavailable:
                pass  # nothing links the new token to the old state, which expires unread
        self.token = None
        self.identify()


@lru_cache(maxsize=VECTORS_KEPT)
def visitor_id_for(token: str) -> str:
    """A keyed hash of the token: the id the store and the event log know a visitor by (the
    token is a credential and must not end up in an export)."""
    return salted_hmac("personalization.visitor", token).hexdigest()[:32]


@dataclass(frozen=True)
class VisitorState:
    skus: tuple[str, ...] = ()  # the last products viewed, oldest first
    notices: tuple[str, ...] = ()  # why the state could not be read (it is empty then)

    @property
    def viewed_recently(self) -> list[str]:
        """The viewed SKUs, most recent first, each once."""
        return list(dict.fromkeys(reversed(self.skus)))

    def vector(self, model: serving.ActiveModel | None) -> np.ndarray | None:
        """The session vector with `model` (unit length, float32); None without a model or a
        viewed product the model knows."""
        if model is None or not self.skus:
            return None
        return session_vector(self.skus, model)


# Session vectors, each kept with the model it was made with: a version's id alone can name
# another model (a database restored, or a test's rolled-back rows).
_vectors: dict[tuple[str, ...], tuple[serving.ActiveModel, np.ndarray | None]] = {}


def views_weights(skus: Sequence[str]) -> dict[str, float]:
    """Each viewed SKU's weight in the visitor's taste (`skus` oldest first): halved every
    TASTE_HALF_LIFE views back, a product viewed again counted once, at its latest view."""
    weights: dict[str, float] = {}
    for age, sku in enumerate(reversed(skus)):
        weights.setdefault(sku, 2.0 ** (-age / TASTE_HALF_LIFE))
    return weights


def session_vector(skus: Sequence[str], model: serving.ActiveModel) -> np.ndarray | None:
    """The visitor's taste with `model`: the unit-length mean of the viewed products' (unit)
    vectors weighted by `views_weights` (float32), None when the model knows none of them;
    kept for the last VECTORS_KEPT states. Unknown SKUs still age the views before them."""
    key = tuple(skus)
    kept = _vectors.get(key)
    if kept is not None and kept[0] is model:
        return kept[1]
    vector = _taste_vector(skus, model)
    if len(_vectors) >= VECTORS_KEPT:
        _vectors.clear()
    _vectors[key] = (model, vector)
    return vector


def _taste_vector(skus: Sequence[str], model: serving.ActiveModel) -> np.ndarray | None:
    index = model.recommender.index
    known = [(index[sku], weight) for sku, weight in views_weights(skus).items() if sku in index]
    if not known:
        return None
    codes, weights = zip(*known, strict=True)
    rows = np.asarray(model.recommender.vectors.vectors)[list(codes)].astype(np.float64)
    mean = np.asarray(weights) @ rows
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else mean).astype(np.float32)


def visitor_state(visitor: Visitor) -> VisitorState:
    """The visitor's state (empty before their first view, or when it cannot be read)."""
    with visitor_state_reading(visitor) as state_read:
        return state_read()


@contextmanager
def visitor_state_reading(
    visitor: Visitor, *, wanted: bool = True
) -> Iterator[Callable[[], VisitorState]]:
    """Ask for the visitor's state now, get it from the call given when ready: on Redis the
    LRANGE is sent at once and its reply read by that call, so work done in between (a search)
    overlaps the round trip. Not `wanted`, or a visitor without a token: nothing is asked."""
    if not wanted or visitor.id is None:
        yield VisitorState
        return
    pending, visitor._prefetched = visitor._prefetched, None
    if pending is None:
        pending = visitor_store().views_request(visitor.id)

    def state_read() -> VisitorState:
        try:
            return VisitorState(tuple(pending.read()))
        except VisitorStateUnavailable:
            return VisitorState(notices=(UNAVAILABLE,))

    try:
        yield state_read
    finally:
        pending.close()


@dataclass(frozen=True)
class ViewRecorded:
    state: VisitorState  # after the view (empty when it could not be written)
    logged: bool  # the event went to the log or its stream with the state


def view_add(
    visitor: Visitor,
    sku: str,
    *,
    viewed_at: datetime,
    event_id: str | None = None,
    answer: bool = True,
) -> ViewRecorded:
    """Add `sku` to the visitor's views (identifying them first if they are new) and, where the
    store takes them, log the view (as `event_id`) in the same round trip; with `answer`, the
    state after it comes back in that round trip too. Raises ViewsLimited (nothing recorded)
    when the visitor or their address is over its flood limit, VisitorStateUnavailable when the
    store cannot answer."""
    sent = view_add_send(visitor, sku, viewed_at=viewed_at, event_id=event_id, answer=answer)
    try:
        return sent.recorded()
    finally:
        sent.close()


def view_add_send(
    visitor: Visitor,
    sku: str,
    *,
    viewed_at: datetime,
    event_id: str | None = None,
    answer: bool = True,
) -> ViewSent:
    """`view_add`, sent now and answered by `recorded()` of what it returns (then `close()` it,
    answered or not): on Redis the script goes at once, and what the caller does in between
    (a product page's catalog part) overlaps the round trip. Nothing raises here."""
    store = visitor_store()
    event_id = event_id or uuid.uuid4().hex
    visitor_id = visitor.identify()
    sent = store.view_add_send(
        visitor_id,
        sku,
        viewed_at=viewed_at,
        event_id=event_id,
        answer=answer,
        address=visitor.address,
    )
    return ViewSent(sent)


@dataclass
class ViewSent:
    """A view sent to the visitor store (see view_add_send)."""

    sent: StoreViewSent

    def recorded(self) -> ViewRecorded:
        """The view's outcome: raises ViewsLimited (nothing recorded) or
        VisitorStateUnavailable, as view_add does."""
        views = self.sent.answer()
        return ViewRecorded(VisitorState(tuple(views)), self.sent.logged)

    def close(self) -> None:
        self.sent.close()


class StoreViewSent(Protocol):
    logged: bool  # once answered: the store logged the view's event with the state

    def answer(self) -> list[str]:
        """The views after it (with `answer`), or raises as the store's view_add does."""

    def close(self) -> None:
        """Settle the view sent, answered or not."""


class PendingViews(Protocol):
    def read(self) -> list[str]:
        """The views asked for (raises VisitorStateUnavailable)."""

    def close(self) -> None:
        """Settle the request, read or not."""


class VisitorStore(Protocol):
    takes_events: bool  # a view's event is logged by `view_add`, with the state

    def views_request(self, visitor_id: str) -> PendingViews:
        """Ask for the visitor's views, oldest first; the answer is read from what it returns."""

    def view_add_send(
        self,
        visitor_id: str,
        sku: str,
        *,
        viewed_at: datetime,
        event_id: str,
        answer: bool,
        address: str | None,
    ) -> StoreViewSent:
        """Count the view in the flood limits of the visitor and `address` (raising
        ViewsLimited, nothing written, when it is over one), append `sku`, keep the last
        CIS_VISITOR_VIEWS_MAX, push the expiry back, log the view as `event_id` where the store
        takes events; what it returns answers the views after it (with `answer`; else what
        the store has at hand, maybe nothing)."""

    def forget(self, visitor_id: str) -> None: ...


@cache
def visitor_store() -> VisitorStore:
    """The store CIS_VISITOR_STORE names, made once per process."""
    if settings.CIS_VISITOR_STORE == "redis":
        return RedisVisitorStore()
    return DatabaseVisitorStore()


def visitor_store_reset() -> None:
    """Make the store again at the next call (after the settings changed: tests)."""
    visitor_store.cache_clear()
    _vectors.clear()


@receiver(setting_changed)
def _store_settings_changed(*, setting: str, **kwargs) -> None:
    if setting in {
        "CIS_VISITOR_STORE", "CIS_EVENT_STREAM", "CACHES", "CIS_REDIS_SHARDS",
        "CIS_REDIS_WAIT_REPLICAS",
    }:  # fmt: skip
        visitor_store_reset()


# A view, in one command that Redis runs whole: refuse it when the visitor's or the address's
# counter of this window (KEYS[2], KEYS[3]) is at its limit (ARGV[8], ARGV[9]; 0: none),
# returning the seconds left in the window (ARGV[10]); else count it, append the SKU, keep the
# last ones, push the expiry back, add the event to the stream (when KEYS[4] is given) and
# return the state (when asked). One command rather than a pipeline: the client packs one and
# parses one reply. Its keys share the visitor's hash tag: a cluster runs it on one master.
VIEW_ADD_LUA = """
local visitor_limit, address_limit = tonumber(ARGV[8]), tonumber(ARGV[9])
if (visitor_limit > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= visitor_limit)
   or (address_limit > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= address_limit) then
  return tonumber(ARGV[10])
end
for i, limit in ipairs({visitor_limit, address_limit}) do
  if limit > 0 and redis.call('INCR', KEYS[i + 1]) == 1 then
    redis.call('EXPIRE', KEYS[i + 1], tonumber(ARGV[10]) + 1)
  end
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
if KEYS[4] then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*',
             'visitor', ARGV[4], 'sku', ARGV[1], 'id', ARGV[7])
end
if ARGV[6] == '1' then
  return redis.call('LRANGE', KEYS[1], 0, -1)
end
return false
"""


def redis_client() -> redis.Redis | RedisCluster:
    """The client of the Redis that holds visitors' state and the streams of views: the
    `personalization` cache alias's (circuit breaker included); a RedisCluster for a
    `redis-cluster://` URL."""
    from django_redis import get_redis_connection

    return get_redis_connection(REDIS_ALIAS)


class RedisVisitorStore:
    """A list per visitor in the Redis (or the Redis Cluster) of the `personalization` cache
    alias."""

    def __init__(self):
        self.client = redis_client()
        self.cluster = isinstance(self.client, RedisCluster)
        self.takes_events = settings.CIS_EVENT_STREAM
        self.wait_replicas = settings.CIS_REDIS_WAIT_REPLICAS
        self.shards = settings.CIS_REDIS_SHARDS
        shard_tags(self.shards)  # worked out once, at start-up
        # Each shard's stream keeps its share of the cap: about CIS_EVENT_STREAM_MAX in all.
        self.stream_max = math.ceil(settings.CIS_EVENT_STREAM_MAX / self.shards)
        self._view_add = self.client.register_script(VIEW_ADD_LUA)  # EVALSHA, loaded once
        self._replicas_lacking: dict[int, float] = {}  # a pool's id: when to wait for it again

    def views_request(self, visitor_id: str) -> _RedisReply:
        """The LRANGE sent at once; its reply read when asked for, so work done in between
        overlaps the round trip."""
        return self.command_send("LRANGE", visitor_key(visitor_id), 0, -1)

    def command_send(self, *command: Any, wait: bool = False) -> _RedisReply:
        """`command` (its first key is command[1], or command[3] for a script) sent at once on
        a connection to the Redis that holds that key, its reply read later (`answer`, or
        `close` unread); with `wait`, answered once CIS_REDIS_WAIT_REPLICAS replicas have it."""
        key = command[3] if command[0] == "EVALSHA" else command[1]
        pending = _RedisReply(self, command, wait=wait and self.wait_replicas > 0)
        pending.send(key)
        return pending

    def replicas_lacking(self, pool: Any) -> bool:
        """Whether the Redis of `pool` lacked its replicas a moment ago (CIS_REDIS_RETRY_SECONDS):
        its writes are then not waited for, and their events go to the log as well."""
        until = self._replicas_lacking.get(id(pool))
        return until is not None and time.monotonic() < until

    def replicas_lacked(self, pool: Any) -> None:
        self._replicas_lacking[id(pool)] = time.monotonic() + settings.CIS_REDIS_RETRY_SECONDS

    def pool_for(self, key: str) -> redis.ConnectionPool:
        """The connection pool of the Redis that holds `key`: on a cluster, its slot's master
        as the client last saw the cluster's map."""
        if not self.cluster:
            return self.client.connection_pool
        node = self.client.get_node_from_key(key)
        if node is None or node.redis_connection is None:
            raise RedisClusterException(f"no node of the cluster serves the slot of {key!r}")
        return node.redis_connection.connection_pool

    def failed(self) -> None:
        """A node did not answer: a cluster's map is read again (at most once per
        CIS_REDIS_RETRY_SECONDS), so the slots of a master that died go to the replica
        promoted in its place."""
        if self.cluster:
            cluster_map_refresh(self.client)

    def view_add_send(
        self,
        visitor_id: str,
        sku: str,
        *,
        viewed_at: datetime,
        event_id: str,
        answer: bool,
        address: str | None,
    ) -> _RedisViewSent:
        window = view_window(visitor_id, address, tag=visitor_tag(visitor_id), shards=self.shards)
        keys = [visitor_key(visitor_id), window.visitor_key, window.address_key]
        keys += [visitor_stream_key(visitor_id)] if self.takes_events else []
        arguments = [
            sku,
            settings.CIS_VISITOR_VIEWS_MAX,
            settings.CIS_VISITOR_TTL,
            visitor_id,
            self.stream_max,
            int(answer),
            event_id,
            window.visitor_limit,
            window.address_limit,
            window.seconds_left,
        ]
        script = self._view_add
        pending = self.command_send(
            "EVALSHA", script.sha, len(keys), *keys, *arguments, wait=self.takes_events
        )
        again = lambda: script(keys=keys, args=arguments)  # noqa: E731
        return _RedisViewSent(pending, again, answer, self.takes_events)

    def forget(self, visitor_id: str) -> None:
        _redis_call(self.client.delete, visitor_key(visitor_id))


class _RedisReply:
    """A command sent on a connection to the Redis that holds its key, its reply read later
    (as redis-py's pipelines do). A failure is raised as VisitorStateUnavailable when the reply
    is read. Closed unread, the reply is read then (it is on its way: cheaper than a new
    connection), or the connection dropped if that fails, so no reply is left behind. A
    cluster's node that answers that the key's slot is elsewhere (it moved, or is failing
    over) ran nothing: the command is asked again through the cluster client, which follows."""

    def __init__(self, store: RedisVisitorStore, command: tuple, *, wait: bool = False):
        self.store, self.command, self.wait = store, command, wait
        self.pool: Any = None
        self.connection: Any = None
        self.error: Exception | None = None
        self.answered = False
        # With `wait`: whether CIS_REDIS_WAIT_REPLICAS replicas had the write when answered.
        self.replicated = not wait

    def send(self, key: str) -> None:
        try:
            self.pool = self.store.pool_for(key)
            self.wait = self.wait and not self.store.replicas_lacking(self.pool)
            self.connection = self.pool.get_connection()
            commands = [self.command]
            if self.wait:  # answered once the replicas have the write, or after the timeout
                commands.append(("WAIT", self.store.wait_replicas, WAIT_MILLISECONDS))
            self.connection.send_packed_command(self.connection.pack_commands(commands))
        except REDIS_FAILURES as exc:
            self.error = exc
            self.store.failed()

    def read(self) -> list[str]:
        return [sku.decode() for sku in _redis_call(self._reply_followed)]

    def answer(self) -> Any:
        """The reply; VisitorStateUnavailable when Redis failed, and an error reply (a
        ResponseError, such as NOSCRIPT) raised as redis-py raises it."""
        try:
            return self._reply_followed()
        except ResponseError:
            raise
        except REDIS_FAILURES as exc:
            raise VisitorStateUnavailable(f"Redis failed: {exc}") from exc

    def _reply_followed(self) -> Any:
        try:
            return self._reply()
        except REDIRECTED:
            self.replicated = self.replicated and not self.wait  # asked again, not waited for
            return self.store.client.execute_command(*self.command)

    def _reply(self) -> Any:
        if self.error is not None:
            raise self.error
        try:
            reply = self._responses_read()
        except ResponseError:
            self.answered = True  # an error reply (a key of another type): read, all the same
            raise
        except BaseException:
            self.answered = True  # settled: the connection is dropped, nothing left behind
            self.connection.disconnect()
            self.store.failed()
            raise
        self.answered = True
        return reply

    def _responses_read(self) -> Any:
        error: ResponseError | None = None
        try:
            reply = self.connection.read_response()
        except ResponseError as exc:
            error = exc
        if self.wait:  # how many replicas had it within WAIT_MILLISECONDS
            self.replicated = self.connection.read_response() >= self.store.wait_replicas
            if not self.replicated:
                self.store.replicas_lacked(self.pool)
        if error is not None:
            raise error
        return reply

    def close(self) -> None:
        if self.connection is None:
            return
        if not self.answered and self.error is None:
            try:
                self._reply()
            except REDIS_FAILURES:  # an error reply (a RedisError) included
                pass  # disconnected: nothing left behind
        self.pool.release(self.connection)
        self.connection = None


class _RedisViewSent:
    """The view's script sent (`VIEW_ADD_LUA` by its SHA); run again whole if Redis did not
    hold it (restarted: the script's own call loads it)."""

    def __init__(
        self, pending: _RedisReply, again: Callable[[], Any], answer: bool, streamed: bool
    ):
        self.pending, self.again, self.wanted = pending, again, answer
        self.streamed = streamed  # the script adds the view's event to the stream
        self.logged = False

    def answer(self) -> list[str]:
        try:
            reply = self.pending.answer()
        except NoScriptError:
            self.pending.replicated = self.pending.replicated and not self.pending.wait
            reply = _redis_call(self.again)
        except ResponseError as exc:  # a key of another type: the store cannot take the view
            raise VisitorStateUnavailable(f"Redis failed: {exc}") from exc
        if isinstance(reply, int):  # a state is a list (or nothing): a number is a refusal
            raise ViewsLimited(reply)
        # In the stream, and on the replicas asked for: else the caller logs it too (the drain
        # skips the stream's copy of an event already logged).
        self.logged = self.streamed and self.pending.replicated
        return [value.decode() for value in reply] if self.wanted else []

    def close(self) -> None:
        self.pending.close()


def _redis_call(method: Callable[..., Any], *args: Any) -> Any:
    # No log here: common.redis_circuit logs when Redis fails and when it is back.
    try:
        return method(*args)
    except REDIS_FAILURES as exc:
        raise VisitorStateUnavailable(f"Redis failed: {exc}") from exc


class DatabaseVisitorStore:
    """A row per visitor (VisitorViews) in the shop's database: no server needed, and the
    state outlives restarts. Each view also writes its event, in the same transaction."""

    takes_events = True

    def views_request(self, visitor_id: str) -> _DatabaseRead:
        return _DatabaseRead(self, visitor_id)

    def _views(self, visitor_id: str, *, locked: bool = False) -> list[str]:
        rows = VisitorViews.objects.filter(visitor_id=visitor_id, expires_at__gt=timezone.now())
        # Two tabs viewing at once: on PostgreSQL the second waits for the first's row; on
        # SQLite (which locks the whole database) the second may fail "database is locked",
        # and that view then misses the state (its event is still logged, with a notice).
        if locked:
            rows = rows.select_for_update()
        try:
            stored = rows.values_list("skus", flat=True).first()
        except DatabaseError as exc:
            raise VisitorStateUnavailable(f"the database failed: {exc}") from exc
        return stored.split(SKU_SEPARATOR) if stored else []

    def view_add(
        self,
        visitor_id: str,
        sku: str,
        *,
        viewed_at: datetime,
        event_id: str,
        answer: bool,
        address: str | None,
    ) -> list[str]:
        views_limit_take(view_window(visitor_id, address))
        try:
            with transaction.atomic():
                skus = [*self._views(visitor_id, locked=True), sku]
                skus = skus[-settings.CIS_VISITOR_VIEWS_MAX :]
                expires_at = viewed_at + timedelta(seconds=settings.CIS_VISITOR_TTL)
                # An UPDATE of the row just read (an INSERT when there was none): no third query.
                VisitorViews(visitor_id, SKU_SEPARATOR.join(skus), expires_at).save()
                live_view_log(visitor_id, sku, viewed_at, event_id)
        except DatabaseError as exc:
            raise VisitorStateUnavailable(f"the database failed: {exc}") from exc
        return skus

    def view_add_send(self, visitor_id: str, sku: str, **view: Any) -> _Answered:
        """The view written at once (a query cannot be sent ahead), its outcome kept."""
        try:
            return _Answered(self.view_add(visitor_id, sku, **view))
        except (ViewsLimited, VisitorStateUnavailable) as exc:
            return _Answered([], exc)

    def forget(self, visitor_id: str) -> None:
        VisitorViews.objects.filter(visitor_id=visitor_id).delete()


@dataclass
class _Answered:
    """A view already written: its views after it, or what stopped it."""

    views: list[str]
    error: Exception | None = None
    logged: bool = True  # with the state, in one transaction

    def answer(self) -> list[str]:
        if self.error is not None:
            raise self.error
        return self.views

    def close(self) -> None:
        pass


@dataclass
class _DatabaseRead:
    """A read of the database store, run when asked for (a query cannot be sent ahead)."""

    store: DatabaseVisitorStore
    visitor_id: str

    def read(self) -> list[str]:
        return self.store._views(self.visitor_id)

    def close(self) -> None:
        pass


def visitor_states_expired_delete() -> int:
    """Delete the database store's rows of visitors gone longer than CIS_VISITOR_TTL."""
    deleted, _ = VisitorViews.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
