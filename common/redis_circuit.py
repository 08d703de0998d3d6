"""A circuit breaker for Redis: after a failure or a timeout, a process stops asking that server
for CIS_REDIS_RETRY_SECONDS, then lets one command through to probe it.

Without it, a hung Redis (a stopped process, a full network buffer) costs every command its
socket timeout, and a page asks several times (the visitor's state, cached fragments): seconds
per page, and a traceback per failure. With it, a process pays at most one timeout per period;
every other command fails at once with `CircuitOpen` (a redis ConnectionError, so django-redis's
IGNORE_EXCEPTIONS and the shop's "unavailable" handling treat it as Redis being down). One
warning is logged when the circuit opens and one when Redis answers again.

Used as the connection class of every Redis connection pool the shop makes
(`CONNECTION_POOL_KWARGS = {"connection_class": CircuitBreakerConnection}` in settings): the
caches, the visitor's state and the event stream share one circuit per server and process.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

FAILURES = (RedisConnectionError, RedisTimeoutError, OSError)

clock = time.monotonic  # what the circuits read the time from (tests move a clock of their own)


def _now() -> float:
    return clock()


class CircuitOpen(RedisConnectionError):
    """Redis failed a moment ago: this process does not ask it again yet."""


class Circuit:
    """The state of one server, as one process sees it: closed (ask), or open since a time."""

    def __init__(self, name: str):
        self.name = name
        self.opened_at: float | None = None  # _now() at the last failure; None: closed
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self.opened_at is None

    def probe_claim(self) -> bool:
        """While open: True for one caller once the period is over (it probes; the others keep
        failing fast until its answer closes the circuit or its failure opens a new period)."""
        with self._lock:
            opened_at = self.opened_at
            if opened_at is None:
                return True
            if _now() - opened_at < settings.CIS_REDIS_RETRY_SECONDS:
                return False
            self.opened_at = _now()
            return True

    def failed(self, error: BaseException) -> None:
        with self._lock:
            was_closed = self.opened_at is None
            self.opened_at = _now()
        if was_closed:
            logger.warning(
                "Redis at %s failed (%s: %s); this process stops asking it for %g s at a time "
                "until it answers again",
                self.name,
                type(error).__name__,
                error,
                settings.CIS_REDIS_RETRY_SECONDS,
            )

    def answered(self) -> None:
        if self.opened_at is None:  # the usual case, without taking the lock
            return
        with self._lock:
            was_open, self.opened_at = self.opened_at is not None, None
        if was_open:
            logger.warning("Redis at %s answers again", self.name)


_circuits: dict[str, Circuit] = {}
_circuits_lock = threading.Lock()


def circuit_for(name: str) -> Circuit:
    circuit = _circuits.get(name)
    if circuit is None:
        with _circuits_lock:
            circuit = _circuits.setdefault(name, Circuit(name))
    return circuit


def circuits_reset() -> None:
    """Close every circuit (tests, and a process that knows Redis is back)."""
    with _circuits_lock:
        for circuit in _circuits.values():
            circuit.opened_at = None


class CircuitBreakerConnection(redis.Connection):
    """A redis-py connection that asks its server's circuit before it connects or sends, and
    reports each failure and each answer to it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.circuit = circuit_for(f"{self.host}:{self.port}")
        self._probing = False

    def _admitted(self) -> None:
        if self.circuit.closed or self._probing:
            return
        if self.circuit.probe_claim():
            self._probing = True
            return
        raise CircuitOpen(
            f"Redis at {self.circuit.name} failed less than "
            f"{settings.CIS_REDIS_RETRY_SECONDS:g} s ago; not asked again yet"
        )

    def _failed(self, error: BaseException) -> None:
        self._probing = False
        if not isinstance(error, CircuitOpen):
            self.circuit.failed(error)

    def connect_check_health(self, *args, **kwargs):
        if self._sock:
            return
        self._admitted()
        try:
            super().connect_check_health(*args, **kwargs)
        except FAILURES as error:
            self._failed(error)
            raise

    def send_packed_command(self, command, check_health=True):
        try:
            self._admitted()
        except CircuitOpen:
            self.disconnect()  # a reply that might still come must not meet the next command
            raise
        try:
            super().send_packed_command(command, check_health=check_health)
        except FAILURES as error:
            self._failed(error)
            raise

    def read_response(self, *args, **kwargs):
        try:
            response = super().read_response(*args, **kwargs)
        except FAILURES as error:
            self._failed(error)
            raise
        except ResponseError:  # an error reply is an answer: the server is there
            self._probing = False
            self.circuit.answered()
            raise
        self._probing = False
        self.circuit.answered()
        return response
