"""Search impressions and clicks on their results, and the experiments that read them: which
list a visitor is shown (their arm), interleaving the plain and the personalized orders.

A visitor's arm is drawn once from a hash of their id and CIS_EXPERIMENT_NAME, so their
experience is stable: a CIS_INTERLEAVING_SHARE of visitors see one list that interleaves both
orders by team draft (engine.interleaving), a CIS_AB_SHARE are split A/B (half see the plain
order, half the personalized one), the others the personalized order outside any experiment.

An impression and a click take the path a view takes: with Redis, one script keeps what a
click is checked against (the visitor and the SKUs shown, CIS_IMPRESSION_TTL seconds) and adds
the event to the stream that `event_stream.events_drain` writes into the database; without
Redis (or when it fails) they are written to the database straight away. A click counts only
for an impression shown to the same visitor, on the SKU shown at that position, once.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache, lru_cache

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from redis import Redis
from redis.commands.core import Script
from redis.exceptions import ResponseError

from .engine.interleaving import Interleaved, team_draft
from .models import ResultClick, SearchImpression
from .redis_keys import impression_key, visitor_stream_key
from .state import (
    SKU_SEPARATOR,
    RedisVisitorStore,
    Visitor,
    VisitorStateUnavailable,
    _redis_call,
    visitor_store,
)

Arm = SearchImpression.Arm
EXPERIMENTS = {
    Arm.INTERLEAVED: "interleaving",
    Arm.AB_PERSONALIZED: "ab",
    Arm.AB_PLAIN: "ab",
}
QUERY_CHARS = SearchImpression._meta.get_field("query").max_length
POSITIONS_MAX = SearchImpression._meta.get_field("teams").max_length  # of a page credited

# An impression: keep what a click is checked against, for CIS_IMPRESSION_TTL seconds, and add
# it to the stream (KEYS[2], when given).
IMPRESSION_ADD_LUA = """
redis.call('HSET', KEYS[1], 'visitor', ARGV[1], 'skus', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if KEYS[2] then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'type', 'impression',
             'id', ARGV[5], 'visitor', ARGV[1], 'skus', ARGV[2], 'query', ARGV[6],
             'page', ARGV[7], 'arm', ARGV[8], 'teams', ARGV[9])
end
return 1
"""

# A click: -1 when the impression is unknown or another visitor's, -2 when the SKU is not the
# one shown at that position, 0 when that position was clicked already, else 1 (and the click
# is added to the stream, when KEYS[2] is given).
CLICK_ADD_LUA = """
local visitor = redis.call('HGET', KEYS[1], 'visitor')
if not visitor or visitor ~= ARGV[1] then
  return -1
end
local position, shown, at = tonumber(ARGV[2]), nil, 0
for sku in string.gmatch(redis.call('HGET', KEYS[1], 'skus'), '[^\\t]+') do
  if at == position then
    shown = sku
    break
  end
  at = at + 1
end
if shown ~= ARGV[3] then
  return -2
end
if redis.call('HSETNX', KEYS[1], 'click:' .. ARGV[2], '1') == 0 then
  return 0
end
if KEYS[2] then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'type', 'click',
             'impression', ARGV[5], 'position', ARGV[2], 'sku', ARGV[3])
end
return 1
"""


class ClickRefused(Exception):
    """A click that is not counted: its impression was not shown to this visitor (or is too
    old), or the SKU is not the one shown at that position."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Impression:
    id: str
    arm: str
    teams: str = ""  # an interleaved list's team of each position ("" when not credited)

    @property
    def experiment(self) -> str | None:
        """The experiment the list is part of: interleaving, ab, or None."""
        return EXPERIMENTS.get(self.arm)


def experiment_arm(visitor_id: str) -> str | None:
    """The visitor's arm of the running experiments: INTERLEAVED, AB_PERSONALIZED, AB_PLAIN, or
    None (outside them), the same at every request while the settings stay."""
    digest = hashlib.blake2b(
        f"{settings.CIS_EXPERIMENT_NAME}\n{visitor_id}".encode(), digest_size=8
    ).digest()
    draw = int.from_bytes(digest, "big") / 2.0**64
    if draw < settings.CIS_INTERLEAVING_SHARE:
        return Arm.INTERLEAVED
    draw -= settings.CIS_INTERLEAVING_SHARE
    if draw < settings.CIS_AB_SHARE:
        return Arm.AB_PERSONALIZED if draw < settings.CIS_AB_SHARE / 2 else Arm.AB_PLAIN
    return None


def orders_interleave(
    personalized: Sequence[str], plain: Sequence[str], *, visitor_id: str, query: str, length: int
) -> Interleaved:
    """Team draft of the two orders into `length` results. Its coins are drawn from the visitor,
    the query and the experiment, so a visitor paging through a search, or coming back to it,
    sees one interleaved order."""
    seed = f"{settings.CIS_EXPERIMENT_NAME}\n{visitor_id}\n{query}"
    rng = random.Random(hashlib.blake2b(seed.encode(), digest_size=8).digest())
    return team_draft(personalized, plain, length=length, rng=rng)


def impression_record(
    visitor: Visitor, *, query: str, page: int, arm: str, skus: Sequence[str], teams: str = ""
) -> Impression:
    """Record a page of search results shown to `visitor` (identified first if new: see the
    module's docstring). With Redis, the script is sent at once and its reply read as the
    request ends (`Visitor.write_later`), so the round trip overlaps the rest of the request."""
    impression = Impression(uuid.uuid4().hex, arm, teams if len(teams) <= POSITIONS_MAX else "")
    visitor_id, shown_skus = visitor.identify(), SKU_SEPARATOR.join(skus)
    query, shown_at = query[:QUERY_CHARS], timezone.now()

    @cache  # one row, saved twice when the database takes it and Redis fails after: updated
    def row() -> SearchImpression:  # made only for the database: a model costs 20 µs
        return SearchImpression(
            impression_id=impression.id, visitor_id=visitor_id, query=query, page=page, arm=arm,
            skus=shown_skus, teams=impression.teams, shown_at=shown_at,
        )  # fmt: skip

    store = visitor_store()
    if isinstance(store, RedisVisitorStore):
        keys = [impression_key(visitor_id, impression.id)]
        keys += [visitor_stream_key(visitor_id)] if store.takes_events else []
        arguments = [
            visitor_id, shown_skus, settings.CIS_IMPRESSION_TTL, store.stream_max,
            impression.id, query, page, arm, impression.teams,
        ]  # fmt: skip
        script = _scripts(store.client)[0]
        pending = store.command_send("EVALSHA", script.sha, len(keys), *keys, *arguments)
        visitor.write_later(lambda: _impression_settle(pending, script, keys, arguments, row))
        if store.takes_events:
            return impression
    _impression_save(row)
    return impression


def _impression_settle(
    pending, script: Script, keys: list, arguments: list, row: Callable[[], SearchImpression]
) -> None:
    """Read the impression script's reply; run it again if Redis did not hold the script (it
    was restarted), or write the impression to the database if Redis failed, where a click
    then finds it."""
    try:
        pending.answer()
    except ResponseError:  # NOSCRIPT: loaded by the script's own call
        try:
            _redis_call(lambda: script(keys=keys, args=arguments))
        except (VisitorStateUnavailable, ResponseError):
            _impression_save(row)
    except VisitorStateUnavailable:
        _impression_save(row)
    finally:
        pending.close()


def _impression_save(row: Callable[[], SearchImpression]) -> None:
    try:
        row().save()
    except DatabaseError:
        pass  # an impression lost costs the experiment one row, never the visitor their page


def click_record(visitor: Visitor, *, impression_id: str, position: int, sku: str) -> bool:
    """Count a click on the result at `position` (from 0) of an impression shown to `visitor`:
    True when counted, False when that position was counted already. Raises ClickRefused."""
    if visitor.id is None:
        raise ClickRefused("no impression with this id was shown to you", field="impression")
    visitor.writes_settle()  # an impression of theirs sent and not yet answered
    store = visitor_store()
    if isinstance(store, RedisVisitorStore):
        keys = [impression_key(visitor.id, impression_id)]
        keys += [visitor_stream_key(visitor.id)] if store.takes_events else []
        arguments = [visitor.id, position, sku, store.stream_max, impression_id]
        try:
            answer = _redis_call(lambda: _scripts(store.client)[1](keys=keys, args=arguments))
        except VisitorStateUnavailable:
            answer = None  # checked against the database's impressions below
        if answer == 0:
            return False
        if answer == -2:
            raise ClickRefused(f"the result at position {position} is not {sku!r}", field="sku")
        if answer == 1 and store.takes_events:
            return True
        if answer == 1:  # checked by Redis, and no stream to take it
            return _click_write(impression_id, position, sku)
    return _click_checked_write(visitor.id, impression_id=impression_id, position=position, sku=sku)


def _click_checked_write(visitor_id: str, *, impression_id: str, position: int, sku: str) -> bool:
    """A click checked against the impression's row and written, for a shop without Redis (or
    an impression written while Redis failed)."""
    shown = (
        SearchImpression.objects.filter(impression_id=impression_id, visitor_id=visitor_id)
        .values_list("skus", "shown_at")
        .first()
    )
    too_old = timezone.now() - timedelta(seconds=settings.CIS_IMPRESSION_TTL)
    if shown is None or shown[1] < too_old:
        raise ClickRefused("no impression with this id was shown to you", field="impression")
    skus = shown[0].split(SKU_SEPARATOR)
    if position >= len(skus) or skus[position] != sku:
        raise ClickRefused(f"the result at position {position} is not {sku!r}", field="sku")
    return _click_write(impression_id, position, sku)


def _click_write(impression_id: str, position: int, sku: str) -> bool:
    try:
        _, created = ResultClick.objects.get_or_create(
            impression_id=impression_id,
            position=position,
            defaults={"sku": sku, "clicked_at": timezone.now()},
        )
    except DatabaseError as exc:
        raise VisitorStateUnavailable(f"the database failed: {exc}") from exc
    return created


@lru_cache(maxsize=4)
def _scripts(client: Redis) -> tuple[Script, Script]:
    """The impression's and the click's scripts on `client` (EVALSHA after the first call)."""
    return client.register_script(IMPRESSION_ADD_LUA), client.register_script(CLICK_ADD_LUA)
