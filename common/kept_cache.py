"""Values every page reads, shared through Django's cache and kept by each process as long."""

import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

_kept: dict[str, tuple[float, Any]] = {}  # key -> (until, value)
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


def kept_forget() -> None:
    """Drop this process's copies (tests: each starts without them, as with an empty cache)."""
    with _lock:
        _kept.clear()
