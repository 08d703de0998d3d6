"""Which views reach the training data: not a bot's, and not more than
CIS_VIEWS_PER_MINUTE_VISITOR a minute from one visitor or CIS_VIEWS_PER_MINUTE_ADDRESS from one
client address, so that one visitor (or one machine minting new cookies) cannot flood the event
log or dominate what the model learns.

The limits count recorded views in fixed windows of WINDOW_SECONDS; a view over either limit is
refused whole (neither the state nor the log moves) with ViewsLimited, which says when the
window ends. The Redis store counts inside the script that records the view (state.VIEW_ADD_LUA:
still one round trip; per shard of the keys, see `view_window`); the database store counts in
Django's default cache with `views_limit_take`, which is per process with the local-memory
cache (the demo's one process). A view that Redis cannot take goes straight to the event log;
those are counted in this process's memory (`views_limit_take(..., local=True)`), as Redis
is not there to count them.
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache

WINDOW_SECONDS = 60
KEY_PREFIX = "cis:limit:"
clock = time.time  # what the windows are read from (tests move a clock of their own)
_local_counts = LocMemCache("cis-view-limits", {"OPTIONS": {"MAX_ENTRIES": 100_000}})
# Tokens that crawlers, link previewers and monitors put in their User-Agent: never a person.
USER_AGENTS_KEPT = 1024  # User-Agents told apart per process: most recently seen kept
CRAWLER_USER_AGENT = re.compile(
    r"bot|crawl|spider|slurp|preview|facebookexternalhit|embedly|monitor|uptime|pingdom|"
    r"scrapy|lighthouse|pagespeed",
    re.IGNORECASE,
)
# HTTP libraries: a page fetched by one is a script's, but a headless shop's server or app
# sends its visitors' views to the API through one, so the API does not count them as bots.
HTTP_LIBRARY_USER_AGENT = re.compile(
    r"curl|wget|httpie|python-requests|python-urllib|aiohttp|go-http-client|java/|okhttp",
    re.IGNORECASE,
)


class ViewsLimited(Exception):
    """The view was not recorded: its visitor or address is over its limit for this window."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many views: try again in {retry_after} s")
        self.retry_after = retry_after  # whole seconds until the window ends (at least 1)


@lru_cache(maxsize=USER_AGENTS_KEPT)
def user_agent_is_bot(user_agent: str, *, page: bool = True) -> bool:
    """Whether a User-Agent is a crawler's, or (for a `page` view, not an API call) a script's.
    Kept per User-Agent: the same few browsers ask at every request (two patterns searched
    through a browser's long User-Agent: 0.8% of a search page's samples)."""
    if CRAWLER_USER_AGENT.search(user_agent):
        return True
    return page and bool(HTTP_LIBRARY_USER_AGENT.search(user_agent))


def client_address(meta: dict) -> str | None:
    """The address a request came from, as the limits count it: REMOTE_ADDR, or, when
    CIS_CLIENT_ADDRESS_HEADER names the header the proxy in front sets, its last address (the one
    that proxy saw; those before it are whatever the client wrote). An IPv6 address counts as
    its /64, which one machine usually holds whole. None when there is no address to read."""
    header = settings.CIS_CLIENT_ADDRESS_HEADER
    raw = ""
    if header:
        raw = meta.get("HTTP_" + header.upper().replace("-", "_"), "").split(",")[-1].strip()
    for candidate in (raw, meta.get("REMOTE_ADDR", "")):
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        if address.version == 4:
            return str(address)
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return None


@dataclass(frozen=True)
class ViewWindow:
    """The current window's counter keys and limits for one view (a limit of 0: none)."""

    visitor_key: str
    address_key: str
    visitor_limit: int
    address_limit: int
    seconds_left: int  # until the window ends, at least 1: Retry-After, and the keys' expiry

    @property
    def limited(self) -> bool:
        return bool(self.visitor_limit or self.address_limit)


def view_window(
    visitor_id: str, address: str | None, *, tag: str = "", shards: int = 1
) -> ViewWindow:
    """The window a view made now falls in, for `visitor_id` from `address`. In Redis, the
    counters carry the hash tag of the visitor's shard (`tag`, of `shards`: see
    personalization.redis_keys), as the view's script runs on one slot: an address is counted
    per shard, each allowing its share of the limit (never less than one visitor's), so a
    machine minting cookies, which spread evenly over the shards, still meets about its limit."""
    now = clock()
    window = math.floor(now / WINDOW_SECONDS)
    seconds_left = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
    prefix = f"cis:{tag}:limit:" if tag else KEY_PREFIX
    visitor_limit = settings.CIS_VIEWS_PER_MINUTE_VISITOR
    address_limit = settings.CIS_VIEWS_PER_MINUTE_ADDRESS if address else 0
    if address_limit and shards > 1:
        address_limit = max(math.ceil(address_limit / shards), visitor_limit)
    return ViewWindow(
        visitor_key=f"{prefix}visitor:{visitor_id}:{window}",
        address_key=f"{prefix}address:{address or '-'}:{window}",
        visitor_limit=visitor_limit,
        address_limit=address_limit,
        seconds_left=seconds_left,
    )


def views_limit_take(window: ViewWindow, *, local: bool = False) -> None:
    """Count a view in Django's default cache (`local`: in this process's memory), or raise
    ViewsLimited if either counter is at its limit (a refused view is not counted). Two threads
    may both pass the last place left: a limit bounds a flood, it is not an exact count."""
    if not window.limited:
        return
    counts = _local_counts if local else cache
    counted = {
        key: limit
        for key, limit in (
            (window.visitor_key, window.visitor_limit),
            (window.address_key, window.address_limit),
        )
        if limit
    }
    seen = counts.get_many(list(counted))
    if any((seen.get(key) or 0) >= limit for key, limit in counted.items()):
        raise ViewsLimited(window.seconds_left)
    for key in counted:
        if not counts.add(key, 1, timeout=window.seconds_left + 1):
            try:
                counts.incr(key)
            except ValueError:  # expired in between: a new window
                counts.add(key, 1, timeout=window.seconds_left + 1)


def local_counts_clear() -> None:
    """Forget the counts kept in this process's memory (tests)."""
    _local_counts.clear()
