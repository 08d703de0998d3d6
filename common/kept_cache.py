"""Values every page reads, shared through Django's cache and kept by each process as long."""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

_kept: dict[str, tuple[float, Any]] = {}  # key -> (until, value)
_confirmed: OrderedDict[str, float] = OrderedDict()  # key -> until, least recently used first
CONFIRMED_MAX = 50_000  # keys a process keeps confirmed (a few MB)
_lock = threading.Lock()


def cache_get_or_set_kept(
    key: str, compute: Callable[[], Any], *, timeout: float, kept_for: float | None = None
) -> Any:
    """`cache.get_or_set(key, compute, timeout)`, with this process's copy kept `kept_for`
    seconds (`timeout` when not given): a value every page reads (the departments, the
    personas, the popular products) costs a round trip to the cache (0.14 ms with Redis, half a
    trivial view) once a `kept_for`, not once a request. Worked out at most once a `timeout` in
    the shop; stale by at most `timeout` + `kept_for`."""
    now = time.monotonic()
    kept = _kept.get(key)
    if kept is not None and kept[0] > now:
        return kept[1]
    value = cache.get_or_set(key, compute, timeout=timeout)
    with _lock:
        _kept[key] = (now + (timeout if kept_for is None else kept_for), value)
    return value


def kept_when_true(key: str, check: Callable[[], bool], *, kept_for: float) -> bool:
    """`check()`, a True answer kept by this process `kept_for` seconds (a False one is asked
    again each time): for a fact that rarely stops holding and is asked at every request (a
    product exists), which then costs its query once a `kept_for` per key. So it can still be
    True up to `kept_for` after it stopped being, where another process changed it (this
    process's own catalog writes call `kept_forget`). At most CONFIRMED_MAX keys are kept,
    those least recently asked dropped first."""
    now = time.monotonic()
    until = _confirmed.get(key)
    if until is not None and until > now:
        with _lock:
            if key in _confirmed:
                _confirmed.move_to_end(key)
        return True
    if not check():
        return False
    with _lock:
        _confirmed[key] = now + kept_for
        _confirmed.move_to_end(key)
        while len(_confirmed) > CONFIRMED_MAX:
            _confirmed.popitem(last=False)
    return True


def kept_forget() -> None:
    """Drop this process's copies (tests: each starts without them, as with an empty cache; a
    catalog write: this process sees it at once)."""
    with _lock:
        _kept.clear()
        _confirmed.clear()
