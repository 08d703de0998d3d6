"""Celery beat's scheduler (CELERY_BEAT_SCHEDULER): Celery's own, whose failures to reach the
broker are logged as the shop logs a failing Redis: one warning when sending starts failing,
one when it works again.

Celery's scheduler logs an ERROR with a chained traceback for every task it cannot send, and
one more for every retry of its first connection: a hung broker filled beat's log with a
traceback every few seconds, each saying the same thing. The schedule itself is unchanged: a
task beat could not send is not sent later (each entry is already advanced to its next run).
"""

from __future__ import annotations

import logging
import threading

from celery.beat import PersistentScheduler
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# What a broker out of reach raises (kombu wraps the transport's errors in OperationalError);
# anything else is a fault of the task or of beat, and keeps its traceback.
BROKER_FAILURES = (OperationalError, OSError, RedisConnectionError, RedisTimeoutError)


class BrokerOutageLog:
    """Whether beat's last try to reach the broker failed, and one warning per change of that:
    not one per try."""

    def __init__(self):
        self.failing = False
        self._lock = threading.Lock()

    def failed(self, error: BaseException) -> None:
        with self._lock:
            was_failing, self.failing = self.failing, True
        if not was_failing:
            logger.warning(
                "beat cannot send tasks to the broker (%s: %s); the tasks due meanwhile are "
                "skipped, and one warning says when it takes them again",
                type(error).__name__,
                error,
            )

    def answered(self) -> None:
        if not self.failing:  # the usual case, without taking the lock
            return
        with self._lock:
            was_failing, self.failing = self.failing, False
        if was_failing:
            logger.warning("beat sends tasks to the broker again")


class QuietBrokerScheduler(PersistentScheduler):
    """PersistentScheduler (the schedule in its shelve file) whose broker failures go through
    one BrokerOutageLog."""

    def __init__(self, *args, **kwargs):
        self.broker_outage = BrokerOutageLog()
        super().__init__(*args, **kwargs)

    def apply_entry(self, entry, producer=None):
        logger.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)  # as Celery says
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except Exception as exc:  # Celery's SchedulingError, raised while handling the cause
            if not isinstance(exc.__context__ or exc, BROKER_FAILURES):
                logger.error("beat could not send %s: %s", entry.name, exc, exc_info=True)
                return
            self.broker_outage.failed(exc)
        else:
            self.broker_outage.answered()

    def _ensure_connected(self):
        # Beat's first connection retries (broker_connection_max_retries) before any task is
        # sent; Celery logs an ERROR for each retry.
        def retrying(exc, interval):
            self.broker_outage.failed(exc)

        return self.connection.ensure_connection(
            retrying, self.app.conf.broker_connection_max_retries
        )
